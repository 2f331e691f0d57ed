//! What the server wrote for each guest's share of an enumeration, kept so that a change of one guest costs
//! one guest's instances, not every guest's: keyed on the request, the provider's class and the guest, and
//! valid only at the guest's version (see [`PieceKey`]) and the count of CIM writes it was written at.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use uuid::Uuid;

use crate::wbem::providers::{HeldPieces, PieceKey};

/// Written pieces beyond this many bytes (all requests together) are dropped and written again when asked.
const MAX_BYTES: usize = 256 << 20;
/// Distinct requests (class, flags, property list) whose pieces are kept.
const MAX_VARIANTS: usize = 1024;

#[derive(Default)]
pub(crate) struct PieceStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    variants: HashMap<String, Variant>,
    bytes: usize,
}

struct Variant {
    /// The count of CIM writes the pieces were written at (providers keep state that only those change).
    writes: u64,
    pieces: HashMap<(&'static str, Uuid), (PieceKey, Bytes)>,
}

impl PieceStore {
    /// Keeps what was written for `fresh` pieces of `class`, for requests like `variant`, at `writes`.
    pub(crate) fn put(
        &self,
        variant: &str,
        writes: u64,
        class: &'static str,
        fresh: Vec<(PieceKey, Bytes)>,
    ) {
        if fresh.is_empty() {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let inner = &mut *inner;
        let added: usize = fresh.iter().map(|(_, b)| b.len()).sum();
        let full = inner.bytes + added > MAX_BYTES
            || (inner.variants.len() >= MAX_VARIANTS && !inner.variants.contains_key(variant));
        if full {
            inner.variants.clear();
            inner.bytes = 0;
        }
        let entry = inner
            .variants
            .entry(variant.to_owned())
            .or_insert_with(|| Variant {
                writes,
                pieces: HashMap::new(),
            });
        if entry.writes != writes {
            // Written before a later CIM write: not worth keeping. Written after: what was kept is stale.
            if writes < entry.writes {
                return;
            }
            inner.bytes -= entry.pieces.values().map(|(_, b)| b.len()).sum::<usize>();
            entry.pieces.clear();
            entry.writes = writes;
        }
        for (key, bytes) in fresh {
            inner.bytes += bytes.len();
            if let Some((_, old)) = entry.pieces.insert((class, key.uuid), (key, bytes)) {
                inner.bytes -= old.len();
            }
        }
    }

    fn held(
        &self,
        variant: &str,
        writes: u64,
        class: &'static str,
        key: &PieceKey,
    ) -> Option<Bytes> {
        let inner = self.inner.lock().ok()?;
        let entry = inner.variants.get(variant).filter(|v| v.writes == writes)?;
        let (at, bytes) = entry.pieces.get(&(class, key.uuid))?;
        (at == key).then(|| bytes.clone())
    }
}

/// One request's view of the store for one provider: what it holds is taken out as it is asked, so that a
/// piece the provider was told is held cannot be replaced meanwhile by another request's.
pub(crate) struct Lookup<'a> {
    store: &'a PieceStore,
    variant: &'a str,
    writes: u64,
    class: &'static str,
    found: Mutex<HashMap<Uuid, Bytes>>,
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(
        store: &'a PieceStore,
        variant: &'a str,
        writes: u64,
        class: &'static str,
    ) -> Lookup<'a> {
        Lookup {
            store,
            variant,
            writes,
            class,
            found: Mutex::new(HashMap::new()),
        }
    }

    /// What was held for the guest (taken at [`HeldPieces::holds`]).
    pub(crate) fn take(&self, uuid: &Uuid) -> Option<Bytes> {
        self.found.lock().ok()?.remove(uuid)
    }
}

impl HeldPieces for Lookup<'_> {
    fn holds(&self, key: &PieceKey) -> bool {
        let Some(bytes) = self.store.held(self.variant, self.writes, self.class, key) else {
            return false;
        };
        match self.found.lock() {
            Ok(mut found) => {
                found.insert(key.uuid, bytes);
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128, version: u64) -> PieceKey {
        PieceKey {
            uuid: Uuid::from_u128(n),
            version,
            host: 0,
        }
    }

    #[test]
    fn a_piece_is_held_only_at_its_version_and_writes() {
        let store = PieceStore::default();
        store.put("v", 3, "C", vec![(key(1, 10), Bytes::from_static(b"<a/>"))]);
        let at = |writes, version| {
            let lookup = Lookup::new(&store, "v", writes, "C");
            lookup
                .holds(&key(1, version))
                .then(|| lookup.take(&Uuid::from_u128(1)))
        };
        assert_eq!(at(3, 10), Some(Some(Bytes::from_static(b"<a/>"))));
        assert_eq!(at(3, 11), None, "another version of the guest");
        assert_eq!(at(4, 10), None, "a CIM write since");
        assert!(
            !Lookup::new(&store, "w", 3, "C").holds(&key(1, 10)),
            "another request"
        );
        assert!(
            !Lookup::new(&store, "v", 3, "D").holds(&key(1, 10)),
            "another class"
        );
    }

    #[test]
    fn later_writes_drop_the_old_pieces_and_earlier_ones_are_not_kept() {
        let store = PieceStore::default();
        store.put("v", 3, "C", vec![(key(1, 10), Bytes::from_static(b"<a/>"))]);
        store.put("v", 2, "C", vec![(key(2, 10), Bytes::from_static(b"<b/>"))]);
        assert!(!Lookup::new(&store, "v", 2, "C").holds(&key(2, 10)));
        store.put("v", 4, "C", vec![(key(2, 10), Bytes::from_static(b"<b/>"))]);
        assert!(!Lookup::new(&store, "v", 4, "C").holds(&key(1, 10)));
        assert!(Lookup::new(&store, "v", 4, "C").holds(&key(2, 10)));
        assert_eq!(store.inner.lock().unwrap().bytes, 4);
    }
}
