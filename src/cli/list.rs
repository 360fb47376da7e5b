//! `list`: shows the conformance cases (and the scenario's steps), filtered like `run`.

use tabled::settings::Style;
use tabled::{Table, Tabled};

use super::args::{Format, ListArgs};
use super::{exit, CliError};
use crate::suite::{self, Filter};

#[derive(Tabled)]
struct Row {
    id: String,
    level: &'static str,
    role: &'static str,
    area: &'static str,
    tck: String,
    title: String,
}

pub fn list(args: ListArgs) -> Result<u8, CliError> {
    let f = &args.filter;
    let filter = Filter::from_words(&f.cases, &f.levels, f.role.as_deref(), &f.tags, &f.areas).map_err(CliError::setup)?;
    let cases = suite::all_cases().map_err(CliError::setup)?;
    let selected = filter.select(&cases);
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&selected).map_err(CliError::setup)?;
            println!("{json}");
        }
        Format::Human => {
            let rows = selected.iter().map(|c| Row {
                id: c.id.as_str().to_string(),
                level: c.level.as_str(),
                role: c.role.as_str(),
                area: c.area.as_str(),
                tck: c.tck_id.clone().unwrap_or_default(),
                title: c.title.clone(),
            });
            println!("{}", Table::new(rows).with(Style::rounded()));
            println!("{} of {} cases", selected.len(), cases.len());
        }
    }
    Ok(exit::SUCCESS)
}
