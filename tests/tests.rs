//! The one integration test binary: the stub over real HTTP on port 0, and the CLI.

mod bounds;
mod calibrate;
mod calibrate_hostile;
mod calibrate_progress;
mod claims;
mod cli;
mod common;
mod gates;
mod levers;
mod plan;
mod progress;
mod props;
mod queue;
mod regressions;
mod report;
mod run;
mod sdk_service;
mod service;
mod shape;
mod stub;
mod stub_cache;
mod stub_safety;
mod traces;
mod validate_levers;
