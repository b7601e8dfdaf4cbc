//! Settings of the rate limits (`limits`): which proxies are trusted to name the client, and
//! the per-client limits of logins, customer registrations and sign-ups. Each shop's request
//! budgets come from its plan (`platform.plans`), not from here.

use anyhow::bail;
use clap::Args;
use ipnet::IpNet;

#[derive(Clone, Debug, Args)]
pub struct LimitsConfig {
    /// Proxies (IP addresses or CIDR blocks, comma-separated) whose `X-Forwarded-For` is
    /// believed: the client is the right-most address that is not one of them. Empty: the
    /// client is always the peer of the TCP connection.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<IpNet>,

    /// Hold each shop to the request budgets of its plan (`requests_per_minute` for the admin
    /// API, `storefront_requests_per_minute` for the storefront). Off only where something in
    /// front already does (or for benchmarks).
    #[arg(long, env = "SHOP_RATE_LIMITS", default_value_t = true, action = clap::ArgAction::Set)]
    pub shop_rate_limits: bool,

    /// Failed logins allowed per identity *and client IP* within the login window; then one
    /// more per window / this.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 10)]
    pub login_max_failures: u32,

    /// Failed logins allowed per identity from all clients together within the login window
    /// (the looser ceiling against guessing from many addresses).
    #[arg(long, env = "LOGIN_IDENTITY_MAX_FAILURES", default_value_t = 100)]
    pub login_identity_max_failures: u32,

    /// Length of the login rate-limit window, in seconds.
    #[arg(long, env = "LOGIN_WINDOW_SECS", default_value_t = 300)]
    pub login_window_secs: u64,

    /// Logins and customer registrations per client IP and minute, over all shops.
    #[arg(long, env = "AUTH_PER_IP_PER_MINUTE", default_value_t = 60)]
    pub auth_per_ip_per_minute: u32,

    /// Shops one client IP may sign up per hour.
    #[arg(long, env = "SIGNUPS_PER_IP_PER_HOUR", default_value_t = 5)]
    pub signups_per_ip_per_hour: u32,

    /// Shops all clients together may sign up per hour (per deployment).
    #[arg(long, env = "SIGNUPS_PER_HOUR", default_value_t = 200)]
    pub signups_per_hour: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            shop_rate_limits: true,
            login_max_failures: 10,
            login_identity_max_failures: 100,
            login_window_secs: 300,
            auth_per_ip_per_minute: 60,
            signups_per_ip_per_hour: 5,
            signups_per_hour: 200,
        }
    }
}

impl LimitsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, value) in [
            ("LOGIN_MAX_FAILURES", self.login_max_failures),
            ("LOGIN_IDENTITY_MAX_FAILURES", self.login_identity_max_failures),
            ("AUTH_PER_IP_PER_MINUTE", self.auth_per_ip_per_minute),
            ("SIGNUPS_PER_IP_PER_HOUR", self.signups_per_ip_per_hour),
            ("SIGNUPS_PER_HOUR", self.signups_per_hour),
        ] {
            if !(1..=1_000_000).contains(&value) {
                bail!("{name} must be between 1 and 1000000");
            }
        }
        if self.login_identity_max_failures < self.login_max_failures {
            bail!("LOGIN_IDENTITY_MAX_FAILURES must be at least LOGIN_MAX_FAILURES");
        }
        if !(1..=86_400).contains(&self.login_window_secs) {
            bail!("LOGIN_WINDOW_SECS must be between 1 and 86400");
        }
        Ok(())
    }
}

/// An IP address (a /32 or /128) or a CIDR block.
pub fn parse_net(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is neither an IP address nor a CIDR block"))
}

impl LimitsConfig {
    /// For benchmarks, which measure the server: no shop budgets, per-client limits out of
    /// the way.
    pub fn unlimited() -> Self {
        Self {
            shop_rate_limits: false,
            login_identity_max_failures: 1_000_000,
            auth_per_ip_per_minute: 1_000_000,
            signups_per_ip_per_hour: 1_000_000,
            signups_per_hour: 1_000_000,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_net;

    #[test]
    fn proxies_are_addresses_or_blocks() {
        assert!(parse_net("10.0.0.0/8").is_ok_and(|net| net.prefix_len() == 8));
        assert!(parse_net(" 127.0.0.1 ").is_ok_and(|net| net.prefix_len() == 32));
        assert!(parse_net("::1").is_ok_and(|net| net.prefix_len() == 128));
        assert!(parse_net("proxy.local").is_err());
        assert!(parse_net("10.0.0.0/33").is_err());
    }
}
