//! Placement across the fleet: ask every cluster whether a VM fits (`placement_ask`), rank the
//! ones that do by policy (`placement_select`), create the VM on the best (`vm_place`), and move
//! a VM between clusters through an SMB share (`vm_move`). Claims and outcomes feed each
//! cluster's trust record (`crate::trust`).

mod ask;
mod move_vm;
mod place;
mod policy;
mod select;

pub(crate) use ask::placement_ask;
pub(crate) use move_vm::vm_move;
pub(crate) use place::vm_place;
pub(crate) use select::placement_select;
