//! The image config as build, commit and inspect read and edit it: typed
//! fields for the keys hutch uses (the OCI ones and Docker's `Healthcheck`,
//! `OnBuild` and `Shell`, which oci-spec's types drop), every other key kept
//! as it was read.
//!
//! A config's digest is the image id, so writing one back must not change
//! what hutch did not edit: each object keeps its keys in the order they
//! were read, a new key goes last, a removed key's place is taken by the
//! last one (the order a `serde_json::Map` with `preserve_order` gives,
//! which earlier hutch versions wrote), and a value that does not fit its
//! field (Docker's `null`s, anything odd in a pulled image) is kept as read
//! and reads as absent. It parses and serialises; it reads no files.

use indexmap::IndexMap;
use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The keys of one JSON object in order, with the values kept as read:
/// `Some` for a key the type has no field for (or whose value did not fit
/// it), `None` where the field holds the value.
#[derive(Debug, Clone, Default, PartialEq)]
struct Keys(IndexMap<String, Option<Value>>);

impl Keys {
    /// The field holds `key` now: in its old place, or last when new.
    fn typed(&mut self, key: &str) {
        match self.0.get_mut(key) {
            Some(slot) => *slot = None,
            None => {
                self.0.insert(key.to_string(), None);
            }
        }
    }

    fn remove(&mut self, key: &str) {
        self.0.swap_remove(key);
    }
}

/// `v` as a `T`, when it is one (a `null` never is: it stays as read).
fn fits<T: DeserializeOwned>(v: &Value) -> Option<T> {
    if v.is_null() {
        return None;
    }
    T::deserialize(v).ok()
}

/// One JSON object type: its fields (getter, setter, getter with a default
/// in place, JSON key, type) and the kept keys.
macro_rules! object {
    ($(#[$m:meta])* $name:ident {
        $( $(#[$fm:meta])* $get:ident, $set:ident, $mut_:ident: $key:literal => $ty:ty; )*
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( $get: Option<$ty>, )*
            keys: Keys,
        }

        impl $name {
            $(
                $(#[$fm])*
                pub fn $get(&self) -> Option<&$ty> {
                    self.$get.as_ref()
                }

                /// Set (in the key's place, or last) or remove (the last
                /// key takes its place) the value.
                pub fn $set(&mut self, value: Option<$ty>) {
                    match value {
                        Some(v) => {
                            self.keys.typed($key);
                            self.$get = Some(v);
                        }
                        None => {
                            self.keys.remove($key);
                            self.$get = None;
                        }
                    }
                }

                /// The value to edit, made empty (in the key's place, or
                /// last) when it is absent or did not fit.
                pub fn $mut_(&mut self) -> &mut $ty {
                    if self.$get.is_none() {
                        self.keys.typed($key);
                    }
                    self.$get.get_or_insert_with(Default::default)
                }
            )*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let map = Map::<String, Value>::deserialize(d)?;
                let mut out = Self::default();
                for (k, v) in map {
                    match k.as_str() {
                        $( $key => {
                            if let Some(t) = fits::<$ty>(&v) {
                                out.$get = Some(t);
                                out.keys.0.insert(k, None);
                                continue;
                            }
                        } )*
                        _ => {}
                    }
                    out.keys.0.insert(k, Some(v));
                }
                Ok(out)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.keys.0.len()))?;
                for (k, kept) in &self.keys.0 {
                    match (kept, k.as_str()) {
                        (Some(v), _) => m.serialize_entry(k, v)?,
                        $( (None, $key) => {
                            if let Some(v) = &self.$get {
                                m.serialize_entry(k, v)?;
                            }
                        } )*
                        (None, _) => {}
                    }
                }
                m.end()
            }
        }
    };
}

object! {
    /// An image config (`application/vnd.oci.image.config.v1+json`, or
    /// Docker's, which is the same with more keys).
    ImageConfig {
        created, set_created, created_mut: "created" => String;
        author, set_author, author_mut: "author" => String;
        architecture, set_architecture, architecture_mut: "architecture" => String;
        os, set_os, os_mut: "os" => String;
        /// What a container of the image runs with.
        config, set_config, config_mut: "config" => RunConfig;
        rootfs, set_rootfs, rootfs_mut: "rootfs" => RootFs;
        history, set_history, history_mut: "history" => Vec<History>;
    }
}

object! {
    /// The config's `config`: what a container of the image runs with.
    RunConfig {
        user, set_user, user_mut: "User" => String;
        exposed_ports, set_exposed_ports, exposed_ports_mut: "ExposedPorts" => KeySet;
        env, set_env, env_mut: "Env" => Vec<String>;
        entrypoint, set_entrypoint, entrypoint_mut: "Entrypoint" => Vec<String>;
        cmd, set_cmd, cmd_mut: "Cmd" => Vec<String>;
        volumes, set_volumes, volumes_mut: "Volumes" => KeySet;
        working_dir, set_working_dir, working_dir_mut: "WorkingDir" => String;
        labels, set_labels, labels_mut: "Labels" => IndexMap<String, String>;
        stop_signal, set_stop_signal, stop_signal_mut: "StopSignal" => String;
        /// Docker's HEALTHCHECK.
        healthcheck, set_healthcheck, healthcheck_mut: "Healthcheck" => HealthConfig;
        /// Docker's ONBUILD triggers, as instruction text.
        on_build, set_on_build, on_build_mut: "OnBuild" => Vec<String>;
        /// Docker's SHELL.
        shell, set_shell, shell_mut: "Shell" => Vec<String>;
    }
}

object! {
    /// Docker's `Healthcheck`: the test and its timing in nanoseconds.
    HealthConfig {
        test, set_test, test_mut: "Test" => Vec<String>;
        interval, set_interval, interval_mut: "Interval" => u64;
        timeout, set_timeout, timeout_mut: "Timeout" => u64;
        start_period, set_start_period, start_period_mut: "StartPeriod" => u64;
        start_interval, set_start_interval, start_interval_mut: "StartInterval" => u64;
        retries, set_retries, retries_mut: "Retries" => u64;
    }
}

object! {
    /// The layers' uncompressed digests.
    RootFs {
        typ, set_typ, typ_mut: "type" => String;
        diff_ids, set_diff_ids, diff_ids_mut: "diff_ids" => Vec<String>;
    }
}

object! {
    /// One history entry.
    History {
        created, set_created, created_mut: "created" => String;
        created_by, set_created_by, created_by_mut: "created_by" => String;
        author, set_author, author_mut: "author" => String;
        comment, set_comment, comment_mut: "comment" => String;
        empty_layer, set_empty_layer, empty_layer_mut: "empty_layer" => bool;
    }
}

/// A JSON object used as a set (`ExposedPorts`, `Volumes`): its keys in
/// order, each written with the value `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet(Vec<String>);

impl KeySet {
    /// Add `item` unless it is there already.
    pub fn insert(&mut self, item: String) {
        if !self.0.contains(&item) {
            self.0.push(item);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }
}

impl Serialize for KeySet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for k in &self.0 {
            m.serialize_entry(k, &Map::new())?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for KeySet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = IndexMap::<String, serde::de::IgnoredAny>::deserialize(d)?;
        Ok(KeySet(map.into_keys().collect()))
    }
}

impl ImageConfig {
    /// Parse a config blob; `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &str) -> super::Result<Self> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| super::Error::Json {
            what: what.to_string(),
            error: e,
        })?;
        if !v.is_object() {
            return Err(super::Error::NotObject {
                what: what.to_string(),
            });
        }
        serde_json::from_value(v).map_err(|e| super::Error::Invalid {
            what: what.to_string(),
            kind: "image config",
            error: e,
        })
    }

    /// The config's bytes, as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a config of strings, numbers and maps always serialises")
    }

    /// `config.Env` as (name, value) pairs.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.config()
            .and_then(RunConfig::env)
            .map(|env| {
                env.iter()
                    .map(|e| match e.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (e.to_string(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `config.WorkingDir`, `/` when unset or empty.
    pub fn working_dir(&self) -> &str {
        self.config()
            .and_then(RunConfig::working_dir)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
    }

    /// The SHELL in force: `config.Shell`, or `/bin/sh -c`.
    pub fn shell(&self) -> Vec<String> {
        self.config()
            .and_then(RunConfig::shell)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

impl RunConfig {
    /// Take the OCI fields of `oci` (what `commit` computed: the
    /// container's command, environment, user and working directory,
    /// `--change` edits), leaving the rest (Docker's keys, unknown ones)
    /// and any field `oci` does not change as it was, in its place.
    pub fn take_oci(&mut self, oci: &oci_spec::image::Config) {
        macro_rules! take {
            ($field:ident, $set:ident, $new:expr) => {
                let new = $new;
                if self.$field != new {
                    self.$set(new);
                }
            };
        }
        let set_of = |v: &Option<Vec<String>>| {
            v.as_ref().map(|items| {
                let mut s = KeySet::default();
                items.iter().for_each(|i| s.insert(i.clone()));
                s
            })
        };
        take!(user, set_user, oci.user().clone());
        take!(
            exposed_ports,
            set_exposed_ports,
            set_of(oci.exposed_ports())
        );
        take!(env, set_env, oci.env().clone());
        take!(entrypoint, set_entrypoint, oci.entrypoint().clone());
        take!(cmd, set_cmd, oci.cmd().clone());
        take!(volumes, set_volumes, set_of(oci.volumes()));
        take!(working_dir, set_working_dir, oci.working_dir().clone());
        take!(stop_signal, set_stop_signal, oci.stop_signal().clone());
        // oci-spec's labels are a HashMap: labels kept keep their place,
        // new ones follow in name order.
        let labels = oci.labels().as_ref().map(|new| {
            let mut out: IndexMap<String, String> = self
                .labels
                .iter()
                .flatten()
                .filter_map(|(k, _)| new.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            let mut added: Vec<_> = new.iter().filter(|(k, _)| !out.contains_key(*k)).collect();
            added.sort();
            out.extend(added.into_iter().map(|(k, v)| (k.clone(), v.clone())));
            out
        });
        take!(labels, set_labels, labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = r#"{"architecture":"amd64","config":{"Hostname":"","User":"","Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Retries":3,"Interval":5e9},"Image":"sha256:abc","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":["RUN x"],"Labels":null,"Shell":7},"created":"2026-05-13T02:21:49Z","history":[{"created_by":"x","empty_layer":false,"extra":1}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"weird":{"b":1.5,"a":[null,2e10]}}"#;

    fn parse(s: &str) -> ImageConfig {
        ImageConfig::parse(s.as_bytes(), "config x").unwrap()
    }

    #[test]
    fn unedited_configs_come_back_byte_for_byte() {
        let c = parse(DOCKER);
        // As a `Value` writes it (earlier hutch versions did): floats in
        // Rust's spelling, all else as read.
        let as_value: Value = serde_json::from_str(DOCKER).unwrap();
        assert_eq!(c.to_bytes(), serde_json::to_vec(&as_value).unwrap());
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            DOCKER
                .replace("5e9", "5000000000.0")
                .replace("2e10", "20000000000.0")
        );
        let run = c.config().unwrap();
        assert_eq!(run.cmd().unwrap(), &["sh"]);
        assert_eq!(run.on_build().unwrap(), &["RUN x"]);
        assert_eq!(run.labels(), None, "null reads as absent");
        assert_eq!(
            run.shell(),
            None,
            "a value that does not fit is kept, unread"
        );
        assert_eq!(c.shell(), ["/bin/sh", "-c"]);
        let h = run.healthcheck().unwrap();
        assert_eq!((h.retries(), h.interval()), (Some(&3), None));
        assert_eq!(c.working_dir(), "/");
    }

    #[test]
    fn edits_keep_places_as_a_preserve_order_map_does() {
        let mut c = parse(DOCKER);
        let mut want: Value = serde_json::from_str(DOCKER).unwrap();
        let run = c.config_mut();
        run.labels_mut().insert("a".into(), "b".into());
        run.set_entrypoint(Some(vec!["/e".into()]));
        run.set_cmd(None);
        run.exposed_ports_mut().insert("80/tcp".into());
        run.set_on_build(None);
        c.set_author(Some("me".into()));
        let w = want["config"].as_object_mut().unwrap();
        w.insert("Labels".into(), serde_json::json!({"a": "b"}));
        w.insert("Entrypoint".into(), serde_json::json!(["/e"]));
        w.remove("Cmd");
        w.insert("ExposedPorts".into(), serde_json::json!({"80/tcp": {}}));
        w.remove("OnBuild");
        want["author"] = serde_json::json!("me");
        assert_eq!(c.to_bytes(), serde_json::to_vec(&want).unwrap());
    }

    #[test]
    fn bad_configs_name_the_blob() {
        for bad in ["[]", "{", r#"{"config":[1]}"#] {
            let e = ImageConfig::parse(bad.as_bytes(), "config y");
            if bad.contains("config") {
                assert!(e.unwrap().config().is_none(), "kept, unread");
            } else {
                assert!(e.unwrap_err().to_string().contains("config y"));
            }
        }
    }
}
