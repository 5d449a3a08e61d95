//! The hub's placement state, behind methods: every cluster's trust record and the moves
//! waiting for their source's deletion to be confirmed.

use super::Hub;
use crate::operations::PendingMoves;
use crate::trust::TrustBook;

impl Hub {
    /// Every cluster's trust record.
    pub(crate) fn trust(&self) -> &TrustBook {
        &self.trust
    }

    /// vm_move operations waiting for the source deletion to be confirmed.
    pub(crate) fn pending_moves(&self) -> &PendingMoves {
        &self.pending_moves
    }
}
