//! The consent gate: who is present, and whether each has consented to being recorded.

use crate::protocol::{MemberId, Role};
use crate::vecmap::VecMap;

/// Members present in the call (the local member included), with their role and recording
/// consent. Observers are never recorded, so their consent is not needed.
#[derive(Debug, Clone, Default)]
pub(super) struct ConsentGate {
    members: VecMap<MemberId, (Role, bool)>,
}

impl ConsentGate {
    /// Adds `member` or updates its role and consent; returns whether this member now blocks
    /// recording (and did not before).
    pub(super) fn present(&mut self, member: MemberId, role: Role, consented: bool) -> bool {
        let blocked_before = self.members.get(&member).is_some_and(|&e| blocks(e));
        self.members.insert(member, (role, consented));
        blocks((role, consented)) && !blocked_before
    }

    /// Updates the consent of a known member; returns whether it now blocks recording (and did
    /// not before). An unknown member is ignored: it is not present.
    pub(super) fn consent(&mut self, member: &MemberId, granted: bool) -> bool {
        let Some(entry) = self.members.get_mut(member) else {
            return false;
        };
        let before = blocks(*entry);
        entry.1 = granted;
        blocks(*entry) && !before
    }

    /// Removes a member that left.
    pub(super) fn left(&mut self, member: &MemberId) {
        self.members.remove(member);
    }

    /// Every present member, in arrival order.
    pub(super) fn members(&self) -> Vec<MemberId> {
        self.members.keys().cloned().collect()
    }

    /// Present members who must consent and have not, in arrival order.
    pub(super) fn missing(&self) -> Vec<MemberId> {
        self.members
            .iter()
            .filter(|&(_, &e)| blocks(e))
            .map(|(m, _)| m.clone())
            .collect()
    }
}

fn blocks((role, consented): (Role, bool)) -> bool {
    role != Role::Observer && !consented
}
