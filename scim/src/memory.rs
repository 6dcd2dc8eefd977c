//! An in-memory [`Directory`]: the test twin of the SQL directory, implementing the contract
//! by scanning. Deterministic: ids are sequential (UUID-shaped) and the clock is logical
//! (2024-01-01T00:00:00Z, one second later on every write).

use std::future::{Future, ready};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::filter::get_ci;
use crate::project::sort_resources;
use crate::schema::ResourceKind;
use crate::service::{Directory, DirectoryError, Page, Query, Stored, render};

#[derive(Debug)]
struct Entry {
    tenant: String,
    kind: ResourceKind,
    stored: Stored,
}

#[derive(Debug)]
struct State {
    next_id: u64,
    clock: OffsetDateTime,
    entries: Vec<Entry>,
}

/// An in-memory directory. `userName` is unique per tenant case-insensitively; group members
/// must exist in the tenant; deleting a resource removes it from the groups it was a member of.
#[derive(Debug)]
pub struct MemoryDirectory {
    base_url: String,
    state: Mutex<State>,
}

impl Default for MemoryDirectory {
    fn default() -> Self {
        Self::new("")
    }
}

fn user_name(doc: &Value) -> Option<String> {
    get_ci(doc, "userName")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
}

impl MemoryDirectory {
    /// An empty directory; `base_url` is used to render resources for filtering and sorting
    /// (it shows in `meta.location`).
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            state: Mutex::new(State {
                next_id: 1,
                clock: time::macros::datetime!(2024-01-01 00:00:00 UTC),
                entries: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, DirectoryError> {
        self.state
            .lock()
            .map_err(|_| DirectoryError::Internal("memory directory lock poisoned".into()))
    }

    fn check(
        state: &State,
        tenant: &str,
        kind: ResourceKind,
        id: Option<&str>,
        doc: &Value,
    ) -> Result<(), DirectoryError> {
        match kind {
            ResourceKind::User => {
                let name = user_name(doc);
                let taken = state.entries.iter().any(|e| {
                    e.tenant == tenant
                        && e.kind == kind
                        && Some(e.stored.id.as_str()) != id
                        && user_name(&e.stored.document) == name
                });
                if taken {
                    return Err(DirectoryError::Conflict(
                        "userName is already in use".into(),
                    ));
                }
            }
            ResourceKind::Group => {
                let members = get_ci(doc, "members")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for m in members {
                    let Some(v) = get_ci(&m, "value").and_then(Value::as_str) else {
                        return Err(DirectoryError::InvalidValue(
                            "a group member has no value".into(),
                        ));
                    };
                    let exists = state
                        .entries
                        .iter()
                        .any(|e| e.tenant == tenant && e.stored.id == v);
                    if !exists {
                        return Err(DirectoryError::InvalidValue(format!(
                            "group member {v:?} does not exist"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn create_now(
        &self,
        tenant: &str,
        kind: ResourceKind,
        document: Value,
    ) -> Result<Stored, DirectoryError> {
        let mut st = self.lock()?;
        Self::check(&st, tenant, kind, None, &document)?;
        let id = format!("00000000-0000-4000-8000-{:012x}", st.next_id);
        st.next_id += 1;
        st.clock += Duration::seconds(1);
        let stored = Stored {
            id,
            version: 1,
            created: st.clock,
            last_modified: st.clock,
            document,
        };
        st.entries.push(Entry {
            tenant: tenant.to_owned(),
            kind,
            stored: stored.clone(),
        });
        Ok(stored)
    }

    fn get_now(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Stored, DirectoryError> {
        let st = self.lock()?;
        st.entries
            .iter()
            .find(|e| e.tenant == tenant && e.kind == kind && e.stored.id == id)
            .map(|e| e.stored.clone())
            .ok_or(DirectoryError::NotFound)
    }

    fn query_now(
        &self,
        tenant: &str,
        kind: ResourceKind,
        query: &Query,
    ) -> Result<Page, DirectoryError> {
        let st = self.lock()?;
        let schema = kind.schema();
        let mut rendered: Vec<Value> = st
            .entries
            .iter()
            .filter(|e| e.tenant == tenant && e.kind == kind)
            .map(|e| render(kind, &e.stored, &self.base_url))
            .filter(|r| query.filter.as_ref().is_none_or(|f| f.matches(r, schema)))
            .collect();
        if let Some((by, order)) = &query.sort {
            sort_resources(&mut rendered, by, *order, schema);
        }
        let total_results = rendered.len() as u64;
        let skip = usize::try_from(query.start_index.saturating_sub(1)).unwrap_or(usize::MAX);
        let take = usize::try_from(query.count).unwrap_or(usize::MAX);
        let resources = rendered
            .iter()
            .skip(skip)
            .take(take)
            .filter_map(|r| {
                let id = r.get("id").and_then(Value::as_str)?;
                st.entries
                    .iter()
                    .find(|e| e.tenant == tenant && e.kind == kind && e.stored.id == id)
                    .map(|e| e.stored.clone())
            })
            .collect();
        Ok(Page {
            total_results,
            resources,
        })
    }

    fn replace_now(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected: u64,
        document: Value,
    ) -> Result<Stored, DirectoryError> {
        let mut st = self.lock()?;
        Self::check(&st, tenant, kind, Some(id), &document)?;
        st.clock += Duration::seconds(1);
        let now = st.clock;
        let entry = st
            .entries
            .iter_mut()
            .find(|e| e.tenant == tenant && e.kind == kind && e.stored.id == id)
            .ok_or(DirectoryError::NotFound)?;
        if entry.stored.version != expected {
            return Err(DirectoryError::VersionMismatch);
        }
        entry.stored.version += 1;
        entry.stored.last_modified = now;
        entry.stored.document = document;
        Ok(entry.stored.clone())
    }

    fn delete_now(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected: Option<u64>,
    ) -> Result<(), DirectoryError> {
        let mut st = self.lock()?;
        let pos = st
            .entries
            .iter()
            .position(|e| e.tenant == tenant && e.kind == kind && e.stored.id == id)
            .ok_or(DirectoryError::NotFound)?;
        if expected.is_some_and(|v| st.entries.get(pos).is_some_and(|e| e.stored.version != v)) {
            return Err(DirectoryError::VersionMismatch);
        }
        st.entries.remove(pos);
        st.clock += Duration::seconds(1);
        let now = st.clock;
        for e in st
            .entries
            .iter_mut()
            .filter(|e| e.tenant == tenant && e.kind == ResourceKind::Group)
        {
            let Some(Value::Array(members)) = e.stored.document.get_mut("members") else {
                continue;
            };
            let before = members.len();
            members.retain(|m| get_ci(m, "value").and_then(Value::as_str) != Some(id));
            if members.len() != before {
                if members.is_empty() {
                    if let Some(o) = e.stored.document.as_object_mut() {
                        o.remove("members");
                    }
                }
                e.stored.version += 1;
                e.stored.last_modified = now;
            }
        }
        Ok(())
    }
}

impl Directory for MemoryDirectory {
    fn create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        document: Value,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send {
        ready(self.create_now(tenant, kind, document))
    }

    fn get(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send {
        ready(self.get_now(tenant, kind, id))
    }

    fn query(
        &self,
        tenant: &str,
        kind: ResourceKind,
        query: &Query,
    ) -> impl Future<Output = Result<Page, DirectoryError>> + Send {
        ready(self.query_now(tenant, kind, query))
    }

    fn replace(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected_version: u64,
        document: Value,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send {
        ready(self.replace_now(tenant, kind, id, expected_version, document))
    }

    fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send {
        ready(self.delete_now(tenant, kind, id, expected_version))
    }
}
