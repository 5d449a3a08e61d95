//! One module per subcommand; each owns its clap arguments and its `run`.

pub mod audit;
pub mod bench;
pub mod connect;
pub mod demo;
pub mod hub;
pub mod mock;
pub mod shutdown;
pub mod token;
pub mod worker;
