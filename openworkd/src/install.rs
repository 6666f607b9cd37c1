//! What installers ask of the binary itself, so that packages never drift
//! from the flags: the man page, shell completions, and a launchd agent.

use crate::config::Flags;
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

/// Write `openworkd.8` into `dir`.
pub fn write_man_page(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cmd = Flags::command().version(env!("CARGO_PKG_VERSION"));
    let man = clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Administration");
    let mut out = std::fs::File::create(dir.join("openworkd.8"))?;
    man.render(&mut out)?;
    out.flush()
}

/// Shell completions for `openworkd` on standard output.
pub fn print_completions(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut Flags::command(),
        "openworkd",
        &mut std::io::stdout(),
    );
}

/// XML text with `&`, `<` and `>` escaped.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A per-user launchd agent running `exe` on `workspaces`, with its
/// configuration and logs in the user's Library (`home`).
pub fn launchd_plist(exe: &Path, home: &Path, workspaces: &[String]) -> String {
    let mut args = vec![exe.display().to_string()];
    for ws in workspaces {
        args.push("--workspace".into());
        args.push(ws.clone());
    }
    let args: String = args
        .iter()
        .map(|a| format!("    <string>{}</string>\n", xml(a)))
        .collect();
    let config = home.join("Library/Application Support/openwork/server.json");
    let log = home.join("Library/Logs/openworkd.log");
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>dev.openwork.openworkd</string>
  <key>ProgramArguments</key>
  <array>
{args}  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>OPENWORK_SERVER_CONFIG</key>
    <string>{config}</string>
    <key>OPENWORK_LOG_FORMAT</key>
    <string>json</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>ExitTimeOut</key>
  <integer>30</integer>
  <key>ProcessType</key>
  <string>Background</string>
  <key>StandardOutPath</key>
  <string>{log}</string>
  <key>StandardErrorPath</key>
  <string>{log}</string>
</dict>
</plist>
"#,
        config = xml(&config.display().to_string()),
        log = xml(&log.display().to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plist_names_real_paths_and_escapes_them() {
        let plist = launchd_plist(
            Path::new("/opt/bin/openworkd"),
            Path::new("/Users/ana"),
            &["/Users/ana/R&D".into()],
        );
        assert!(plist.contains("<string>/opt/bin/openworkd</string>"));
        assert!(plist.contains("<string>/Users/ana/R&amp;D</string>"));
        assert!(plist.contains("/Users/ana/Library/Logs/openworkd.log"));
        assert!(!plist.contains("USER"));
    }
}
