//! Which stages a build runs, and in what order: the target stage (the
//! last one, or `--target`) and, transitively, the earlier stages it uses
//! as a base (`FROM <stage>`), copies from (`COPY --from`) or mounts
//! (`RUN --mount=from=`). Other stages are skipped, as buildkit does.
//!
//! It only reads the parsed Dockerfile; it runs nothing.

use super::error::StepError;
use crate::dockerfile::{Dockerfile, Instruction};
use std::collections::BTreeSet;

/// The stages to build, in file order, ending with the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub stages: Vec<usize>,
    pub target: usize,
}

/// The stage a reference names, if it is an earlier stage of this file: by
/// `AS` name (case-insensitive) or by index.
pub fn stage_ref(df: &Dockerfile, name: &str, before: usize) -> Option<usize> {
    df.stage_by_name_or_index(name)
        .map(|(i, _)| i)
        .filter(|i| *i < before)
}

/// Stages `i` depends on directly. A FROM naming a stage may only use its
/// name (an index there is an image tag), as in Docker.
pub fn deps(df: &Dockerfile, i: usize) -> BTreeSet<usize> {
    let stage = &df.stages[i];
    let mut out = BTreeSet::new();
    let lower = stage.from.image.to_ascii_lowercase();
    if let Some(j) = df.stages[..i]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        out.insert(j);
    }
    for ins in &stage.instructions {
        let froms: Vec<&str> = match &ins.node {
            Instruction::Copy(c) => c.from.as_deref().into_iter().collect(),
            Instruction::Run(r) => r.mounts.iter().filter_map(|m| m.from.as_deref()).collect(),
            _ => vec![],
        };
        out.extend(froms.into_iter().filter_map(|f| stage_ref(df, f, i)));
    }
    out
}

/// Plan a build of `target` (a stage name), or of the last stage.
pub fn plan(df: &Dockerfile, target: Option<&str>) -> Result<Plan, StepError> {
    let target = match target {
        None => df.stages.len() - 1,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            df.stages
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| {
                    let stages: Vec<String> =
                        df.stages.iter().filter_map(|s| s.name.clone()).collect();
                    let (target, file) = (t.to_string(), df.file.clone());
                    match stages.is_empty() {
                        true => StepError::NoNamedStages { target, file },
                        false => StepError::NoSuchStage {
                            target,
                            file,
                            stages,
                        },
                    }
                })?
        }
    };
    let mut needed = BTreeSet::from([target]);
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        for d in deps(df, i) {
            if needed.insert(d) {
                todo.push(d);
            }
        }
    }
    Ok(Plan {
        stages: needed.into_iter().collect(),
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    #[test]
    fn only_needed_stages() {
        let df = parse(
            "FROM a AS base\nFROM b AS unused\nRUN false\nFROM base AS build\nFROM c AS tools\nFROM d\nCOPY --from=build /x /x\nRUN --mount=from=tools,target=/t true\n",
            "Dockerfile",
        )
        .unwrap();
        assert_eq!(plan(&df, None).unwrap().stages, [0, 2, 3, 4]);
        assert_eq!(plan(&df, Some("BUILD")).unwrap().stages, [0, 2]);
        let e = plan(&df, Some("nope")).unwrap_err().to_string();
        assert!(
            e.contains("'nope' not found") && e.contains("base, unused"),
            "{e}"
        );
        // A --from that is not an earlier stage is an image.
        let df = parse(
            "FROM a\nCOPY --from=busybox /x /x\nFROM b AS busybox\n",
            "Dockerfile",
        )
        .unwrap();
        assert_eq!(plan(&df, Some("busybox")).unwrap().stages, [1]);
        assert!(deps(&df, 0).is_empty());
    }
}
