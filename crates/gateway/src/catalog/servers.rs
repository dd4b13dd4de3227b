//! The catalogue's servers by index: append-only slots (live, retiring while a reload drains
//! them, empty), so an index never names another server.

use std::sync::Arc;

use switchboard_upstream::Upstream;

use super::Lists;

/// One upstream as the catalogue knows it.
pub struct Server {
    pub name: Arc<str>,
    pub prefix: String,
    /// The shared instance: listings, stateless calls, and every call unless isolated.
    pub upstream: Upstream,
    /// The entry, to start per-session instances (`isolation: session`).
    pub config: switchboard_config::ServerConfig,
}

/// The servers by index. Indices are never reused: a reload appends the servers it starts
/// and retires the ones it removes, so a route, a subscription or a refresh that names an
/// index never reaches another server.
#[derive(Default, Clone)]
pub struct Servers {
    pub(super) slots: Vec<Slot>,
}

#[derive(Clone)]
pub(super) enum Slot {
    /// Listed and routable.
    Live(Arc<Server>),
    /// Removed by a reload: out of the catalogue, but calls that were routed to it before
    /// still reach it while it drains.
    Retiring(Arc<Server>),
    /// Being started by a reload, or stopped.
    Empty,
}

impl Servers {
    /// Server `idx`, if it is live or still draining calls routed to it.
    pub fn get(&self, idx: usize) -> Option<&Arc<Server>> {
        match self.slots.get(idx)? {
            Slot::Live(s) | Slot::Retiring(s) => Some(s),
            Slot::Empty => None,
        }
    }

    /// Whether server `idx` is in the catalogue now.
    pub fn is_live(&self, idx: usize) -> bool {
        matches!(self.slots.get(idx), Some(Slot::Live(_)))
    }

    /// The live servers, in config order of their start.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Server>> {
        self.indexed().map(|(_, s)| s)
    }

    /// The live servers with their indices.
    pub fn indexed(&self) -> impl Iterator<Item = (usize, &Arc<Server>)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Live(s) => Some((i, s)),
            _ => None,
        })
    }

    /// Every started server: the live ones and those draining after a reload.
    pub fn every(&self) -> impl Iterator<Item = &Arc<Server>> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Live(s) | Slot::Retiring(s) => Some(s),
            Slot::Empty => None,
        })
    }

    /// The index of the live server called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.indexed()
            .find(|(_, s)| &*s.name == name)
            .map(|(i, _)| i)
    }
}

impl<'a> IntoIterator for &'a Servers {
    type Item = &'a Arc<Server>;
    type IntoIter = Box<dyn Iterator<Item = &'a Arc<Server>> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// A reload's change to the servers, applied at once by [`Catalog::apply`].
#[derive(Default)]
pub struct Change {
    /// Reserved indices (see [`Catalog::reserve`]) with their started servers and lists.
    pub added: Vec<(usize, Arc<Server>, Lists)>,
    /// Indices to take out of the catalogue (they keep serving calls already routed).
    pub retired: Vec<usize>,
}
