//! The seam between project environments (`project::Environment`) and the
//! parts of hutch that still live in cli/: pulling images (which takes the
//! CLI's context) and starting a container from a record (`launch`). It is
//! the one place to rewire when containers get a library launch API.
//!
//! It maps calls; it decides nothing about environments.

use super::{launch, run, Ctx};
use crate::build::context::ReadPath;
use crate::container::{Containers, Record};
use crate::project::{Backend, BoxError};
use crate::registry::pull::{ensure_image, PullPolicy};
use crate::store::{Image, Store};

pub struct CliBackend<'a> {
    pub ctx: &'a Ctx,
}

impl CliBackend<'_> {
    fn containers(&self) -> Containers {
        Containers::new(&self.ctx.dirs.state)
    }

    fn detached(&self, rec: &Record, plan: &crate::sandbox::Plan) -> Result<(), BoxError> {
        let containers = self.containers();
        let dir = containers.dir(&rec.id);
        match launch::detached(&containers, rec, plan, &dir)? {
            0 => Ok(()),
            code => Err(format!(
                "the environment's container {} did not start (exit code {code})",
                rec.name
            )
            .into()),
        }
    }
}

impl Backend for CliBackend<'_> {
    fn image(&self, name: &str) -> Result<Image, BoxError> {
        Ok(ensure_image(self.ctx, name, PullPolicy::Missing)?)
    }

    fn build(&self, opts: &crate::build::Options) -> Result<(Image, Vec<ReadPath>), BoxError> {
        let store = Store::open(&self.ctx.dirs)?;
        let images = |name: &str| ensure_image(self.ctx, name, PullPolicy::Missing);
        Ok(crate::build::build_tracked(
            &store,
            opts,
            &images,
            &self.ctx.printer,
        )?)
    }

    fn create(&self, mut rec: Record) -> Result<(), BoxError> {
        let containers = self.containers();
        let (image, mapping) = launch::resolve(self.ctx, &rec)?;
        let dir = containers.dir(&rec.id);
        let (plan, ports) = launch::plan(self.ctx, &rec, &dir, &image, mapping)?;
        rec.ports = ports;
        launch::starting(&mut rec);
        containers.create(&mut rec, run::create_dir)?;
        self.detached(&rec, &plan)
    }

    fn start(&self, id: &str) -> Result<(), BoxError> {
        let containers = self.containers();
        let rec = containers.resolve(id)?;
        let dir = containers.dir(&rec.id);
        let (image, mapping) = launch::resolve(self.ctx, &rec)?;
        let (plan, ports) = launch::plan(self.ctx, &rec, &dir, &image, mapping)?;
        let claimed = launch::claim(&containers, &rec.id, ports)?;
        self.detached(&claimed, &plan)
    }

    fn notice(&self, line: &str) {
        self.ctx.printer.info(line);
    }

    fn trace(&self, line: &str) {
        self.ctx.printer.debug(line);
    }
}
