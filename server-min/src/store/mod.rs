//! Room definitions and where they are kept.
//!
//! [`RoomStore`] is the seam for persistence: [`SqliteRoomStore`] keeps rooms in one SQLite
//! file under `--data-dir` (a restart loses no room, and a room keeps its epoch, so the
//! tokens issued for it stay valid); [`MemoryRoomStore`] keeps them in memory (tests, or no
//! `--data-dir`). The trait is synchronous and small on purpose: callers on async tasks run
//! it with `spawn_blocking`, so a slow disk never stalls the hub's task.

mod recording;
mod sqlite;
mod sqlite_recording;

pub use self::recording::{
    AuditEntry, ChunkCommit, Completion, NewRecording, RecordingCreate, RecordingRecord,
    RecordingState, RecordingStore, StoredChunk,
};
pub use self::sqlite::SqliteRoomStore;

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use assistrtc_core::protocol::{MemberId, Permissions, Role, RoomId};
use serde::{Deserialize, Serialize};

/// A member of a room definition: who may join, and in which role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSpec {
    /// The member id, unique within the room.
    pub id: MemberId,
    /// The member's role.
    pub role: Role,
}

/// A room as created through `POST /v1/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDefinition {
    /// The room id.
    pub id: RoomId,
    /// Everyone who may join, in creation order (non-empty, unique ids).
    pub members: Vec<MemberSpec>,
    /// What the room allows.
    pub permissions: Permissions,
    /// Identifies this creation of the room, unique per creation ([`new_epoch`]); every token
    /// issued for the room carries it. Ids are reused (rooms are forgotten on restart and when
    /// they expire), so without it a token for an earlier room of the same id would admit its
    /// holder to the new one.
    pub epoch: String,
    /// Unix seconds when the tokens issued with the room expire: nobody new can join after
    /// it, so the hub removes the room then, or as soon as it is empty after it.
    #[serde(default = "never")]
    pub expires_at: u64,
}

fn never() -> u64 {
    NEVER
}

/// `expires_at` of a room that is never removed.
pub const NEVER: u64 = u64::MAX;

/// A fresh room epoch: 64 random bits, hex. Random rather than a counter so that it stays
/// unique across restarts and across server instances without any shared state.
pub fn new_epoch() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl RoomDefinition {
    /// The member with `id`, if it is part of the room.
    pub fn member(&self, id: &MemberId) -> Option<&MemberSpec> {
        self.members.iter().find(|m| &m.id == id)
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A room with this id already exists.
    #[error("room `{0}` already exists")]
    Conflict(RoomId),
    /// The store already holds as many rooms as it may.
    #[error(
        "too many rooms: at most {max} at once (a room goes when its tokens have expired and it is empty)"
    )]
    Full {
        /// The cap that was reached.
        max: usize,
    },
    /// The storage underneath failed (disk, corruption); the message says how.
    #[error("room storage failed: {0}")]
    Storage(String),
}

/// Where room definitions live.
pub trait RoomStore: Send + Sync + 'static {
    /// Stores a new room; [`StoreError::Conflict`] if the id is taken, [`StoreError::Full`] if
    /// `max_rooms` rooms are stored already (checked in the same step as the insert, so
    /// concurrent creations cannot overshoot it).
    fn create_room(&self, room: RoomDefinition, max_rooms: usize) -> Result<(), StoreError>;
    /// The room with `id`, if any.
    fn get_room(&self, id: &RoomId) -> Result<Option<RoomDefinition>, StoreError>;
    /// Forgets the room (it expired and emptied); `false` if it was not there.
    fn remove_room(&self, id: &RoomId) -> Result<bool, StoreError>;
    /// Every stored room, to hand to the hub when the server starts.
    fn rooms(&self) -> Result<Vec<RoomDefinition>, StoreError>;
    /// Moves the room's expiry to `expires_at` if that is later (a token issued since).
    fn extend_room(&self, id: &RoomId, expires_at: u64) -> Result<(), StoreError>;
    /// Records issued join tokens by id (for lookups, and revocation later).
    fn record_tokens(&self, tokens: &[IssuedToken]) -> Result<(), StoreError>;
    /// The recording index and audit log, when this store keeps them (a store on disk);
    /// `None` refuses recordings (a store in memory: uploads would outlive it).
    fn recordings(&self) -> Option<&dyn RecordingStore> {
        None
    }
}

/// A join token as issued: its id and what it admits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The room.
    pub room: RoomId,
    /// The member.
    pub member: MemberId,
    /// The room creation it is for.
    pub epoch: String,
    /// When it expires, in Unix seconds.
    pub expires_at: u64,
}

/// Rooms in a hash map: fast, and gone when the process exits.
#[derive(Debug, Default)]
pub struct MemoryRoomStore {
    rooms: RwLock<HashMap<RoomId, RoomDefinition>>,
}

impl MemoryRoomStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RoomStore for MemoryRoomStore {
    fn create_room(&self, room: RoomDefinition, max_rooms: usize) -> Result<(), StoreError> {
        // A panic while holding the lock cannot leave a half-written map (insert is atomic
        // from our point of view), so a poisoned lock is safe to keep using.
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if rooms.contains_key(&room.id) {
            return Err(StoreError::Conflict(room.id));
        }
        if rooms.len() >= max_rooms {
            return Err(StoreError::Full { max: max_rooms });
        }
        rooms.insert(room.id.clone(), room);
        Ok(())
    }

    fn get_room(&self, id: &RoomId) -> Result<Option<RoomDefinition>, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        Ok(rooms.get(id).cloned())
    }

    fn remove_room(&self, id: &RoomId) -> Result<bool, StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        Ok(rooms.remove(id).is_some())
    }

    fn rooms(&self) -> Result<Vec<RoomDefinition>, StoreError> {
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        Ok(rooms.values().cloned().collect())
    }

    /// Kept nowhere: in memory nothing outlives the process that could look tokens up.
    fn record_tokens(&self, _tokens: &[IssuedToken]) -> Result<(), StoreError> {
        Ok(())
    }

    fn extend_room(&self, id: &RoomId, expires_at: u64) -> Result<(), StoreError> {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(def) = rooms.get_mut(id) {
            if def.expires_at != NEVER && expires_at > def.expires_at {
                def.expires_at = expires_at;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(id: &str) -> RoomDefinition {
        RoomDefinition {
            id: RoomId::new(id).unwrap(),
            members: vec![MemberSpec {
                id: MemberId::new("agent_1").unwrap(),
                role: Role::Host,
            }],
            permissions: Permissions::default(),
            epoch: "e1".into(),
            expires_at: NEVER,
        }
    }

    #[test]
    fn create_get_and_conflict() {
        let store = MemoryRoomStore::new();
        store.create_room(room("rm_1"), 10).unwrap();
        assert_eq!(
            store.create_room(room("rm_1"), 10),
            Err(StoreError::Conflict(RoomId::new("rm_1").unwrap()))
        );
        let got = store.get_room(&RoomId::new("rm_1").unwrap()).unwrap();
        assert_eq!(got, Some(room("rm_1")));
        assert!(
            got.unwrap()
                .member(&MemberId::new("agent_1").unwrap())
                .is_some()
        );
        assert_eq!(store.get_room(&RoomId::new("rm_2").unwrap()).unwrap(), None);
    }

    #[test]
    fn removed_rooms_are_gone_and_their_id_free() {
        let store = MemoryRoomStore::new();
        store.create_room(room("rm_1"), 10).unwrap();
        assert_eq!(store.remove_room(&RoomId::new("rm_1").unwrap()), Ok(true));
        assert_eq!(store.get_room(&RoomId::new("rm_1").unwrap()), Ok(None));
        assert_eq!(store.remove_room(&RoomId::new("rm_1").unwrap()), Ok(false));
        store.create_room(room("rm_1"), 10).unwrap();
    }

    #[test]
    fn the_room_cap_counts_stored_rooms() {
        let store = MemoryRoomStore::new();
        store.create_room(room("rm_1"), 2).unwrap();
        store.create_room(room("rm_2"), 2).unwrap();
        assert_eq!(
            store.create_room(room("rm_3"), 2),
            Err(StoreError::Full { max: 2 })
        );
        store.remove_room(&RoomId::new("rm_1").unwrap()).unwrap();
        store.create_room(room("rm_3"), 2).unwrap();
    }

    #[test]
    fn epochs_differ_per_creation() {
        let a = new_epoch().unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, new_epoch().unwrap());
    }
}
