//! `hutch rmi`: placeholder until its module lands.

use super::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn exec(_ctx: &Ctx, _args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("'hutch rmi' is not implemented yet")
}
