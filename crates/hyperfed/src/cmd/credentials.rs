//! systemd credentials: a unit's `LoadCredential=NAME:PATH` hands a secret to the service as
//! the file `$CREDENTIALS_DIRECTORY/NAME`, readable only by it. A secret given no other way
//! (flag, environment, file flag, config file) is read from there, so units need no secret on
//! their command line or in their environment.

use std::path::PathBuf;

/// The hub's and the workers' join secret.
pub const JOIN_SECRET: &str = "join-secret";
/// The hub's or a worker's client bearer token.
pub const TOKEN: &str = "token";
/// A worker's HyperCore password.
pub const HYPERCORE_PASSWORD: &str = "hypercore-password";

/// `$CREDENTIALS_DIRECTORY/name`, when systemd passed that credential.
pub fn file(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let path = PathBuf::from(dir).join(name);
    path.is_file().then_some(path)
}
