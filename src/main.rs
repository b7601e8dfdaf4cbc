//! The `shopfleet` binary: parses the command line and calls into the library.

use clap::{Parser, Subcommand};
use shopfleet::commands::{self, ShopAction};
use shopfleet::config::{DatabaseConfig, SearchConfig, ServerConfig, StorageConfig};

#[derive(Parser)]
#[command(name = "shopfleet", version, about = "Multi-tenant commerce platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, then serve the HTTP API.
    Serve(Box<ServerConfig>),
    /// Apply platform migrations, then pending tenant migrations to every shop.
    Migrate {
        #[command(flatten)]
        db: DatabaseConfig,
        /// Shops migrated at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Show each shop's schema version instead of migrating.
        #[arg(long)]
        status: bool,
        /// Migrate only this shop (repeatable), e.g. a canary before the fleet.
        #[arg(long = "shop", value_name = "SLUG")]
        shops: Vec<String>,
    },
    /// Manage shops.
    Shop {
        #[command(subcommand)]
        action: ShopCommand,
    },
    /// Manage platform admins.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Rebuild search indexes from PostgreSQL (every live shop, or one).
    Reindex {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        search: SearchConfig,
        /// Only this shop.
        #[arg(long, value_name = "SLUG")]
        shop: Option<String>,
    },
    /// Create the demo shops `tinashop` and `micocah` (idempotent).
    SeedDemo {
        #[command(flatten)]
        db: DatabaseConfig,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum ShopCommand {
    /// Create a shop and its owner; the password comes from SHOPFLEET_OWNER_PASSWORD or stdin.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long)]
        owner_email: String,
        #[command(flatten)]
        db: DatabaseConfig,
    },
    /// List every shop with status, plan and schema version.
    List {
        #[command(flatten)]
        db: DatabaseConfig,
    },
    /// Refuse every request to the shop until resumed.
    Suspend {
        slug: String,
        #[command(flatten)]
        db: DatabaseConfig,
    },
    /// Serve a suspended shop again.
    Resume {
        slug: String,
        #[command(flatten)]
        db: DatabaseConfig,
    },
    /// Delete a shop (its hosts answer 404 at once; data stays until purged).
    Delete {
        slug: String,
        #[command(flatten)]
        db: DatabaseConfig,
    },
    /// Drop a deleted shop's schema and role for good, then delete its stored objects (run it
    /// again on a purged shop to finish an interrupted object deletion).
    Purge {
        slug: String,
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        storage: StorageConfig,
        #[command(flatten)]
        search: SearchConfig,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform admin; the password comes from SHOPFLEET_ADMIN_PASSWORD or stdin.
    Create {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DatabaseConfig,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Kept until `main` returns: dropping it exports the spans still queued.
    let _telemetry = shopfleet::telemetry::init()?;
    // Commands that write shop data (shop create, seed-demo) emit outbox events as `serve` does.
    shopfleet::server::register_subscriptions();

    match Cli::parse().command {
        Command::Serve(config) => commands::serve(*config).await,
        Command::Migrate { db, concurrency, status, shops } => {
            commands::migrate(&db, &shops, concurrency, status).await
        }
        Command::Shop { action } => match action {
            ShopCommand::Create { slug, name, currency, owner_email, db } => {
                commands::shop_create(
                    &db,
                    &slug,
                    &name,
                    &currency,
                    &owner_email,
                    "SHOPFLEET_OWNER_PASSWORD",
                )
                .await
            }
            ShopCommand::List { db } => commands::shop_list(&db).await,
            ShopCommand::Suspend { slug, db } => {
                commands::shop_action(&db, ShopAction::Suspend, &slug).await
            }
            ShopCommand::Resume { slug, db } => {
                commands::shop_action(&db, ShopAction::Resume, &slug).await
            }
            ShopCommand::Delete { slug, db } => {
                commands::shop_action(&db, ShopAction::Delete, &slug).await
            }
            ShopCommand::Purge { slug, db, storage, search } => {
                commands::shop_purge(&db, &storage, &search, &slug).await
            }
        },
        Command::Admin { action: AdminCommand::Create { email, db } } => {
            commands::admin_create(&db, &email, "SHOPFLEET_ADMIN_PASSWORD").await
        }
        Command::Reindex { db, search, shop } => {
            commands::reindex(&db, &search, shop.as_deref()).await
        }
        Command::SeedDemo { db } => {
            commands::migrate_platform(&db).await?;
            shopfleet::demo::seed(&shopfleet::state::connect(&db).await?).await
        }
        Command::Openapi => {
            println!("{}", commands::openapi_document()?);
            Ok(())
        }
    }
}
