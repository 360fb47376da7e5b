//! The reference components under attack, fed bad input, facing misbehaving peers and under
//! load: what SECURITY.md promises, shown. Each submodule drives one kind of abuse through a
//! small `check` helper over a table of cases; `fixture` starts the data space they share.

mod fixture;
mod tokens;
mod input;
mod props;
mod peers;
mod secrets;
mod load;
mod slow;
