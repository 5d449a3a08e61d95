//! The live, mutable cluster behind a running simulator: sessions, task tags that complete
//! over scaled real time (evaluated lazily on each request), the VM power state machine,
//! snapshots, clones, exports and VM updates.
//!
//! Layers, bottom up: `outcome` (answers), `sessions`, `validate` (request bodies),
//! `vm_update` (edits of one VM or block-device record) and `smb` (SMB shares as a
//! directory); `tasks` (the state and its task engine); `placement` (free memory and storage
//! less reservations, the node a VM starts on); `disks` (block devices); `mutations` (power
//! actions, snapshots, clone, export, PATCH) and `create` (VM create, import, delete), one
//! method per HyperCore request, each starting a task.

mod create;
mod disks;
mod mutations;
mod outcome;
mod placement;
mod sessions;
mod smb;
mod tasks;
mod validate;
mod vm_update;

pub use outcome::{ApiError, TaskResult};
pub use sessions::{SessionCheck, SessionStore};
pub use tasks::{SimState, VmAction};
pub use validate::check_smb_uri;
