//! DNS TXT lookups: how a shop proves that it controls a custom domain (`shop::verification`).
//!
//! One resolver per process, asking the name server of `DNS_RESOLVER` (an `ip:port`; the
//! tests' loopback server) or, when unset, those of the system's `/etc/resolv.conf`. Nothing is
//! cached: a record the shop owner has just created must count at the next lookup, and one
//! they removed must stop counting. Every lookup gives up after [`LOOKUP_TIMEOUT`].
//!
//! Rule: a lookup never fails a request with a 500. Its outcome is an answer (the name does not
//! exist, or these TXT values, maybe none) or [`DnsUnavailable`] with a sentence saying what went
//! wrong, which callers turn into their own error.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{ResolveError, TokioResolver};

/// How long one lookup may take, all name servers and retries included.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// What the DNS said about a name's TXT records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtAnswer {
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// The name exists; these are its TXT values (each record's strings joined), maybe none.
    Values(Vec<String>),
}

/// No answer could be had: a timeout, an unreachable name server, SERVFAIL or REFUSED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DnsUnavailable(pub String);

/// The process's TXT resolver. Cheap to clone.
#[derive(Clone)]
pub struct TxtResolver {
    resolver: TokioResolver,
}

impl TxtResolver {
    /// Asks `nameserver` (UDP, and TCP for truncated answers), or the system's name servers.
    pub fn new(nameserver: Option<SocketAddr>) -> anyhow::Result<Self> {
        let provider = TokioConnectionProvider::default();
        let mut builder = match nameserver {
            Some(addr) => {
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), servers),
                    provider,
                )
            }
            None => TokioResolver::builder(provider).context(
                "reading the system's DNS configuration (/etc/resolv.conf); set DNS_RESOLVER",
            )?,
        };
        let options = builder.options_mut();
        options.timeout = LOOKUP_TIMEOUT;
        options.attempts = 1;
        // Fresh answers only: see the module doc.
        options.cache_size = 0;
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        Ok(Self { resolver: builder.build() })
    }

    /// The TXT records of `name` (a fully qualified name, with or without the final dot).
    pub async fn txt(&self, name: &str) -> Result<TxtAnswer, DnsUnavailable> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match tokio::time::timeout(LOOKUP_TIMEOUT, self.resolver.txt_lookup(fqdn)).await {
            Err(_) => {
                Err(DnsUnavailable(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())))
            }
            Ok(Ok(lookup)) => Ok(TxtAnswer::Values(
                lookup
                    .iter()
                    .map(|txt| {
                        txt.txt_data().iter().map(|part| String::from_utf8_lossy(part)).collect()
                    })
                    .collect(),
            )),
            Ok(Err(err)) => classify(&err),
        }
    }
}

/// An empty answer is an answer; anything else is no answer.
fn classify(err: &ResolveError) -> Result<TxtAnswer, DnsUnavailable> {
    let code = err.proto().and_then(|proto| match proto.kind() {
        ProtoErrorKind::NoRecordsFound { response_code, .. } => Some(*response_code),
        _ => None,
    });
    match code {
        Some(ResponseCode::NXDomain) => Ok(TxtAnswer::NoSuchName),
        Some(ResponseCode::NoError) => Ok(TxtAnswer::Values(Vec::new())),
        Some(other) => Err(DnsUnavailable(format!("the name server answered {other}"))),
        None => Err(DnsUnavailable(format!("the lookup failed: {err}"))),
    }
}
