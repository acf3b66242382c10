//! The README's configuration table must list every setting with its real default and range.

use ringmcp::config::NUMERIC_SETTINGS;

#[test]
fn readme_table_lists_every_numeric_setting_with_default_and_range() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (key, _, default, (lo, hi)) in NUMERIC_SETTINGS {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("README has no row for `{key}`"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[2], default.to_string(), "default of {key}");
        assert!(cells[3].starts_with(&format!("{lo}..={hi}")), "range of {key}: {}", cells[3]);
    }
}
