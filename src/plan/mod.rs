//! `postload plan`: capacity planning by simulation. [`sim`] is the discrete-event engine; this
//! module runs it over a grid of models × tiers × users × strategies and judges each cell
//! against a target.

pub mod sim;
