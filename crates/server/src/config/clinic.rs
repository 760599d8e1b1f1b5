//! `CLINIC_NAME` and `CLINIC_LOGO_FILE`: how the web app names the clinic (header, page
//! title, sign-in page) and the logo it shows beside the name (an SVG or PNG file, served
//! as it is).

use super::ConfigError;
use super::vars::{Vars, invalid};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicSettings {
    pub name: String,
    pub logo_file: Option<PathBuf>,
}

pub(super) fn parse(v: &Vars) -> Result<ClinicSettings, ConfigError> {
    let name = v.get("CLINIC_NAME").unwrap_or_else(|| "vytalcall".into());
    if name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(invalid(
            "CLINIC_NAME",
            &name,
            "expected at most 80 characters, no control characters",
        ));
    }
    let logo_file = v.get("CLINIC_LOGO_FILE").map(PathBuf::from);
    if let Some(f) = &logo_file {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "svg" | "png") {
            return Err(invalid(
                "CLINIC_LOGO_FILE",
                &f.display().to_string(),
                "expected an .svg or .png file",
            ));
        }
    }
    Ok(ClinicSettings { name, logo_file })
}
