//! The shipped example configs (`docs/examples/*.toml`) as test configs: loaded as they are,
//! with only addresses and certificate paths substituted (every listener binds
//! `127.0.0.1:0`, backends get the test's servers, absolute certificate paths become
//! `pki/<file name>` in the proxy's dir). Everything else (TLS modes, routes, SNI lists,
//! PROXY settings, trusted proxies, timeouts) is kept, so the tests prove the examples.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::TempDir;
use super::pki::Pki;

/// Keys holding a file path (a string or a list of strings).
const PATH_KEYS: &[&str] = &["cert", "key", "client_ca", "client_crl"];

pub struct Example {
    pub name: String,
    pub table: Table,
}

fn array_of_tables<'a>(t: &'a Table, key: &str) -> Vec<&'a Table> {
    match t.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_table).collect(),
        _ => vec![],
    }
}

fn array_of_tables_mut<'a>(t: &'a mut Table, key: &str) -> Vec<&'a mut Table> {
    match t.get_mut(key) {
        Some(Value::Array(a)) => a.iter_mut().filter_map(Value::as_table_mut).collect(),
        _ => vec![],
    }
}

fn name_of(t: &Table) -> String {
    t.get("name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

impl Example {
    pub fn path(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/examples")
            .join(name)
    }

    /// Loads `docs/examples/NAME`; every listener is moved to `127.0.0.1:0`.
    pub fn load(name: &str) -> Example {
        let p = Example::path(name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the issue requires the tests to use the shipped example)",
                p.display()
            )
        });
        let table: Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", p.display()));
        let mut ex = Example {
            name: name.to_string(),
            table,
        };
        for l in array_of_tables_mut(&mut ex.table, "listener") {
            l.insert("bind".into(), Value::String("127.0.0.1:0".into()));
        }
        ex
    }

    pub fn listeners(&self) -> Vec<Table> {
        array_of_tables(&self.table, "listener")
            .into_iter()
            .cloned()
            .collect()
    }

    pub fn routes(&self) -> Vec<Table> {
        array_of_tables(&self.table, "route")
            .into_iter()
            .cloned()
            .collect()
    }

    pub fn backends(&self) -> Vec<Table> {
        array_of_tables(&self.table, "backend")
            .into_iter()
            .cloned()
            .collect()
    }

    fn names(&self, key: &str) -> Vec<String> {
        array_of_tables(&self.table, key)
            .into_iter()
            .map(name_of)
            .collect()
    }

    /// The `[[section]]` entry named `name`, for reading or changing a key.
    pub fn entry(&mut self, section: &str, name: &str) -> &mut Table {
        let names = self.names(section);
        let ex = self.name.clone();
        array_of_tables_mut(&mut self.table, section)
            .into_iter()
            .find(|t| name_of(t) == name)
            .unwrap_or_else(|| panic!("{ex}: no [[{section}]] named {name:?} (has {names:?})"))
    }

    /// Points backend `name` at `servers`.
    pub fn servers(&mut self, backend: &str, servers: &[SocketAddr]) -> &mut Example {
        let list = servers
            .iter()
            .map(|s| Value::String(s.to_string()))
            .collect();
        self.entry("backend", backend)
            .insert("servers".into(), Value::Array(list));
        self
    }

    /// Sets `[section] key = value` (e.g. `timeouts.handshake`).
    pub fn set(&mut self, section: &str, key: &str, value: Value) -> &mut Example {
        let t = self
            .table
            .entry(section.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        t.as_table_mut()
            .expect("section is a table")
            .insert(key.into(), value);
        self
    }

    /// Each backend's `proxy_protocol` (or "none").
    pub fn proxy_protocol(&self, backend: &str) -> String {
        array_of_tables(&self.table, "backend")
            .into_iter()
            .find(|t| name_of(t) == backend)
            .and_then(|t| t.get("proxy_protocol"))
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_string()
    }

    /// Rewrites absolute certificate paths to `pki/<file name>`, writes `pki` into every
    /// directory the (relative) paths name under `dir`, and checks each named file exists:
    /// an example naming a file the test PKI does not provide fails here, by name.
    pub fn materialise_pki(&mut self, dir: &TempDir, pki: &Pki) {
        let mut paths = Vec::new();
        for section in ["listener", "route"] {
            for t in array_of_tables_mut(&mut self.table, section) {
                for key in PATH_KEYS {
                    match t.get_mut(*key) {
                        Some(Value::String(s)) => paths.push(rewrite(s)),
                        Some(Value::Array(a)) => {
                            for v in a.iter_mut() {
                                if let Value::String(s) = v {
                                    paths.push(rewrite(s));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        for p in &paths {
            let full = dir.path().join(p);
            let parent = full.parent().unwrap().to_path_buf();
            if !parent.join("ca.crt").exists() {
                pki.write_to(&parent);
            }
            assert!(
                full.exists(),
                "{}: names {p:?}, which the test PKI does not write (it writes {:?})",
                self.name,
                Pki::FILES
            );
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(&self.table).expect("serialise config")
    }
}

/// `/etc/ringress/pki/x.crt` → `pki/x.crt`; relative paths are kept. Returns the new path.
fn rewrite(s: &mut String) -> String {
    if Path::new(s.as_str()).is_absolute() {
        let file = Path::new(s.as_str())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        *s = format!("pki/{file}");
    }
    s.clone()
}
