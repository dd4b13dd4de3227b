//! API keys: `sb_<id>_<secret>`. Only a SHA-256 hash of each key is stored (random 256-bit
//! secrets need no slow hash), in a JSON file written atomically with mode 0600; a presented key
//! is found by its id and compared in constant time. The file is re-read when it changes, so
//! `switchboard keys revoke` takes effect on a running gateway within a second or two.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "sb_";

/// One key, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Hex SHA-256 of the whole key.
    pub sha256: String,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyFile {
    pub keys: Vec<KeyRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no key with id or name `{0}`")]
    Unknown(String),
}

fn now_text() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

use switchboard_store::hex;

impl KeyFile {
    /// Read a key file; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| KeyError::Parse {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(KeyError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Write atomically (temporary file + rename), readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.to_owned(),
            source,
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let body = serde_json::to_vec_pretty(self).unwrap_or_default();
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(err)?;
            f.write_all(&body).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// Make a key for `name` with `role`; returns the key, shown once.
    pub fn create(&mut self, name: &str, role: &str) -> String {
        let id = hex(&rand::random::<[u8; 6]>());
        let secret = B64.encode(rand::random::<[u8; 32]>());
        let key = format!("{PREFIX}{id}_{secret}");
        self.keys.push(KeyRecord {
            id,
            name: name.to_owned(),
            role: role.to_owned(),
            sha256: hex(&Sha256::digest(key.as_bytes())),
            created: now_text(),
            revoked: None,
        });
        key
    }

    /// Revoke the key with this id or name.
    pub fn revoke(&mut self, id_or_name: &str) -> Result<&KeyRecord, KeyError> {
        let rec = self
            .keys
            .iter_mut()
            .find(|k| k.id == id_or_name || k.name == id_or_name)
            .ok_or_else(|| KeyError::Unknown(id_or_name.to_owned()))?;
        if rec.revoked.is_none() {
            rec.revoked = Some(now_text());
        }
        Ok(rec)
    }
}

/// What a valid key says about its holder.
#[derive(Debug, Clone)]
pub struct KeyHolder {
    pub id: String,
    pub name: String,
    pub role: String,
}

/// The live key store of a running gateway.
pub struct KeyStore {
    path: PathBuf,
    keys: ArcSwap<Vec<KeyRecord>>,
    checked: Mutex<(Instant, Option<Stamp>)>,
}

/// What says the file changed: modification time, size and inode. File times are coarse (a
/// clock tick of a few ms), so a file changed less than [`SETTLING`] ago is read again anyway:
/// two saves inside one tick (a key made, then revoked) must not leave the first in force.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    mtime: SystemTime,
    len: u64,
    ino: u64,
}

const SETTLING: Duration = Duration::from_secs(2);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some(Stamp {
        mtime: m.modified().ok()?,
        len: m.len(),
        ino,
    })
}

impl Stamp {
    fn settled(&self) -> bool {
        SystemTime::now()
            .duration_since(self.mtime)
            .is_ok_and(|age| age >= SETTLING)
    }
}

/// How often the file's modification time is looked at.
const RECHECK: Duration = Duration::from_secs(1);

impl KeyStore {
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let file = KeyFile::load(path)?;
        Ok(Self {
            path: path.to_owned(),
            keys: ArcSwap::from_pointee(file.keys),
            checked: Mutex::new((Instant::now(), stamp(path))),
        })
    }

    /// Reload the file if it changed; looked at once per [`RECHECK`], or now when `force`d
    /// (an unknown key id: a key made moments ago works at once). The check and the reload
    /// happen under one lock, so a request racing a reload waits for it instead of seeing the
    /// new modification time with the old keys.
    fn refresh(&self, force: bool) {
        let mut c = self.checked.lock();
        if !force && c.0.elapsed() < RECHECK {
            return;
        }
        c.0 = Instant::now();
        let now = stamp(&self.path);
        if now == c.1 && now.is_none_or(|s| s.settled()) {
            return;
        }
        match KeyFile::load(&self.path) {
            Ok(file) => {
                if now != c.1 {
                    tracing::info!(path = %self.path.display(), keys = file.keys.len(), "API key file changed; reloaded");
                }
                self.keys.store(Arc::new(file.keys));
                c.1 = now;
            }
            Err(e) => {
                // Keep the keys we had (a broken file must not lock everyone out) and look
                // again at the next check.
                tracing::error!(error = %e, "API key file unreadable; keeping the previous keys");
            }
        }
    }

    /// The holder of `presented`, if it is a valid, unrevoked key.
    pub fn verify(&self, presented: &str) -> Option<KeyHolder> {
        self.refresh(false);
        let id = presented.strip_prefix(PREFIX)?.split('_').next()?;
        let mut keys = self.keys.load();
        if !keys.iter().any(|k| k.id == id) {
            self.refresh(true);
            keys = self.keys.load();
        }
        let rec = keys.iter().find(|k| k.id == id)?;
        let digest = hex(&Sha256::digest(presented.as_bytes()));
        let same: bool = digest.as_bytes().ct_eq(rec.sha256.as_bytes()).into();
        (same && rec.revoked.is_none()).then(|| KeyHolder {
            id: rec.id.clone(),
            name: rec.name.clone(),
            role: rec.role.clone(),
        })
    }

    /// Whether a presented credential has this store's shape.
    pub fn looks_like_key(presented: &str) -> bool {
        presented.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_until_revoked_and_are_stored_hashed() {
        let dir = std::env::temp_dir().join(format!("sb-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.json");
        let mut f = KeyFile::default();
        let key = f.create("ci", "developer");
        f.save(&path).unwrap();
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(
            !stored.contains(&key[10..]),
            "the secret must not be stored"
        );
        let store = KeyStore::open(&path).unwrap();
        let holder = store.verify(&key).unwrap();
        assert_eq!(
            (holder.name.as_str(), holder.role.as_str()),
            ("ci", "developer")
        );
        // One character off, another id, or garbage: nothing.
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('A') { 'B' } else { 'A' });
        assert!(store.verify(&wrong).is_none());
        assert!(store.verify("sb_000000000000_x").is_none());
        assert!(store.verify("garbage").is_none());
        // Revocation reaches the running store once the file changes.
        let mut f = KeyFile::load(&path).unwrap();
        f.revoke("ci").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        f.save(&path).unwrap();
        store.checked.lock().0 = Instant::now() - RECHECK * 2;
        store.checked.lock().1 = None;
        assert!(store.verify(&key).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A key made and revoked within one file-time tick is refused once the store looks again:
    /// the second save must not go unseen because its modification time equals the first's.
    #[test]
    fn a_revocation_right_after_creation_is_seen() {
        let dir = std::env::temp_dir().join(format!("sb-keys-tick-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.json");
        let mut f = KeyFile::default();
        let key = f.create("quick", "admin");
        f.save(&path).unwrap();
        let store = KeyStore::open(&path).unwrap();
        assert!(store.verify(&key).is_some());
        f.revoke("quick").unwrap();
        f.save(&path).unwrap();
        // The next periodic look (the key's id is known, so no forced reload).
        store.checked.lock().0 = Instant::now() - RECHECK * 2;
        assert!(store.verify(&key).is_none(), "revoked key still accepted");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A key made while the gateway runs works at once for every request racing the reload
    /// (the failure CI once saw: one request reloading, the others refused meanwhile).
    #[test]
    fn a_new_key_works_for_every_concurrent_request() {
        let dir = std::env::temp_dir().join(format!("sb-keys-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.json");
        for round in 0..20 {
            KeyFile::default().save(&path).unwrap();
            // No pause: the next save usually lands in the same file-time tick.
            let store = Arc::new(KeyStore::open(&path).unwrap());
            let mut f = KeyFile::load(&path).unwrap();
            // Many records make the reload slow enough for the others to race it.
            for i in 0..200 {
                f.create(&format!("filler{i}"), "viewer");
            }
            let key = f.create("new", "developer");
            f.save(&path).unwrap();
            let barrier = Arc::new(std::sync::Barrier::new(8));
            let verdicts: Vec<bool> = (0..8)
                .map(|_| {
                    let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        store.verify(&key).is_some()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect();
            assert!(verdicts.iter().all(|v| *v), "round {round}: {verdicts:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
