//! One module per subcommand; each owns its clap arguments and its `run`. `shutdown` is the
//! Ctrl-C/SIGTERM wait the long-running ones share.

pub mod audit;
pub mod bench;
pub mod completions;
pub mod connect;
pub mod credentials;
pub mod demo;
pub mod demo_nats;
pub mod hub;
pub mod logging;
pub mod mock;
pub mod nats_args;
pub mod place;
pub mod progress;
pub mod shutdown;
pub mod token;
pub mod worker;
pub mod worker_nats;
