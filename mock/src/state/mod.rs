//! The live, mutable cluster behind a running simulator: sessions, task tags that complete
//! over scaled real time (evaluated lazily on each request), the VM power state machine,
//! snapshots, clones, exports and VM updates.
//!
//! Layers, bottom up: `outcome` (answers), `sessions`, `validate` (request bodies) and
//! `vm_update` (edits of one VM record); `tasks` (the state and its task engine);
//! `mutations` (one method per HyperCore request, each starting a task).

mod mutations;
mod outcome;
mod sessions;
mod tasks;
mod validate;
mod vm_update;

pub use outcome::{ApiError, TaskResult};
pub use sessions::{SessionCheck, SessionStore};
pub use tasks::{SimState, VmAction};
pub use validate::check_smb_uri;
