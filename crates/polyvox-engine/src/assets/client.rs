//! Running the package clients (pip, npm) to download one package archive.
//!
//! Each download goes to `downloads/<pkg>.tmp/` and is renamed to `downloads/<pkg>/` only when the
//! client succeeded and left exactly one archive, so a directory under `downloads/` always holds a
//! complete archive and an interrupted run resumes from it. The command shown in errors targets the
//! final directory: a user who runs it by hand leaves the archive where the next fetch picks it up.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::manifest::{Client, Package};
use crate::EngineError;

/// Environment variable naming the pip command (may include arguments, e.g. `python3.12 -m pip`).
pub const PIP_ENV: &str = "POLYVOX_PIP";
/// Environment variable naming the npm command.
pub const NPM_ENV: &str = "POLYVOX_NPM";

/// The commands used to run each package client, as argv prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clients {
    /// e.g. `["python3", "-m", "pip"]`.
    pub pip: Vec<String>,
    /// e.g. `["npm"]`.
    pub npm: Vec<String>,
}

impl Default for Clients {
    fn default() -> Self {
        Self {
            pip: vec!["python3".into(), "-m".into(), "pip".into()],
            npm: vec!["npm".into()],
        }
    }
}

impl Clients {
    /// The defaults, overridden by `$POLYVOX_PIP` and `$POLYVOX_NPM` (split on whitespace).
    pub fn from_env() -> Self {
        let split = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
                .filter(|v| !v.is_empty())
        };
        let d = Self::default();
        Self {
            pip: split(PIP_ENV).unwrap_or(d.pip),
            npm: split(NPM_ENV).unwrap_or(d.npm),
        }
    }

    fn argv(&self, pkg: &Package, dest: &Path) -> Vec<String> {
        let dest = dest.display().to_string();
        let mut argv = match pkg.client {
            Client::Pip => {
                let mut a = self.pip.clone();
                a.extend(
                    [
                        "download",
                        "--no-deps",
                        "--only-binary=:all:",
                        "--disable-pip-version-check",
                        "--no-input",
                    ]
                    .map(String::from),
                );
                a.extend(["--progress-bar".into(), "off".into(), "--dest".into(), dest]);
                a
            }
            Client::Npm => {
                let mut a = self.npm.clone();
                a.extend(["pack".into(), "--pack-destination".into(), dest]);
                a
            }
        };
        argv.extend(pkg.extra_args.iter().map(|s| s.to_string()));
        argv.push(pkg.spec.into());
        argv
    }

    /// The command a user can paste to download `pkg` themselves.
    pub(crate) fn display_command(&self, pkg: &Package, downloads: &Path) -> String {
        self.argv(pkg, &downloads.join(pkg.dir))
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The archive file name extension each client produces.
pub(crate) fn archive_ext(client: Client) -> &'static str {
    match client {
        Client::Pip => "whl",
        Client::Npm => "tgz",
    }
}

/// A downloaded archive and whether it was left by an earlier run.
pub(crate) struct Downloaded {
    pub archive: PathBuf,
    pub reused: bool,
}

/// Returns the archive of `pkg`, downloading it unless an earlier run left it in `downloads`.
/// `on_start` receives the displayable command just before a client actually runs.
pub(crate) fn download(
    clients: &Clients,
    pkg: &Package,
    downloads: &Path,
    on_start: &mut dyn FnMut(&str),
) -> Result<Downloaded, EngineError> {
    let final_dir = downloads.join(pkg.dir);
    if let Some(archive) = single_archive(&final_dir, pkg.client) {
        return Ok(Downloaded {
            archive,
            reused: true,
        });
    }
    let tmp_dir = downloads.join(format!("{}.tmp", pkg.dir));
    remove_dir_if_exists(&tmp_dir)?;
    std::fs::create_dir_all(&tmp_dir).map_err(EngineError::io("create directory", &tmp_dir))?;

    let argv = clients.argv(pkg, &tmp_dir);
    let command = clients.display_command(pkg, downloads);
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| EngineError::ClientMissing {
            client: pkg.client.name().into(),
            env_var: env_var(pkg.client),
            reason: "the configured command is empty".into(),
            command: command.clone(),
        })?;
    tracing::info!(package = pkg.spec, %command, "downloading");
    on_start(&command);
    // npm < 7.18 ignores --pack-destination and packs into the working directory; cwd covers both.
    let output = Command::new(program)
        .args(args)
        .current_dir(&tmp_dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EngineError::ClientMissing {
            client: program.clone(),
            env_var: env_var(pkg.client),
            reason: e.to_string(),
            command: command.clone(),
        })?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&tmp_dir);
        let stream = if output.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            &output.stderr
        } else {
            &output.stdout
        };
        return Err(EngineError::ClientFailed {
            client: pkg.client.name().into(),
            package: pkg.spec.into(),
            status: output
                .status
                .code()
                .map_or_else(|| "by signal".into(), |c| c.to_string()),
            command,
            stderr_tail: tail(&String::from_utf8_lossy(stream), 15),
        });
    }
    if single_archive(&tmp_dir, pkg.client).is_none() {
        let _ = std::fs::remove_dir_all(&tmp_dir);
        return Err(EngineError::Archive {
            package: pkg.spec.into(),
            path: tmp_dir,
            detail: format!(
                "{} succeeded but left no single .{} file",
                pkg.client.name(),
                archive_ext(pkg.client)
            ),
        });
    }
    remove_dir_if_exists(&final_dir)?;
    std::fs::rename(&tmp_dir, &final_dir).map_err(EngineError::io("rename", &tmp_dir))?;
    let archive = single_archive(&final_dir, pkg.client).ok_or_else(|| EngineError::Archive {
        package: pkg.spec.into(),
        path: final_dir.clone(),
        detail: "archive vanished after rename".into(),
    })?;
    Ok(Downloaded {
        archive,
        reused: false,
    })
}

/// The one archive in `dir`, if there is exactly one.
fn single_archive(dir: &Path, client: Client) -> Option<PathBuf> {
    let ext = archive_ext(client);
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension() == Some(OsStr::new(ext)));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<(), EngineError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(EngineError::io("remove", dir)(e))
        }
        _ => Ok(()),
    }
}

fn env_var(client: Client) -> &'static str {
    match client {
        Client::Pip => PIP_ENV,
        Client::Npm => NPM_ENV,
    }
}

/// The last `lines` non-empty lines of a client's output.
fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=.,/:@+%".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::manifest::{KOKORO_JS, ONNXRUNTIME};

    #[test]
    fn commands_pin_the_package_and_the_platform() {
        let c = Clients::default();
        let cmd = c.display_command(&ONNXRUNTIME, Path::new("/d"));
        assert_eq!(
            cmd,
            "python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --no-input \
             --progress-bar off --dest /d/onnxruntime-1.32.0 --python-version 3.11 --platform manylinux_2_28_x86_64 \
             onnxruntime==1.32.0"
        );
        let npm = c.display_command(&KOKORO_JS, Path::new("/my dir"));
        assert_eq!(
            npm,
            "npm pack --pack-destination '/my dir/kokoro-js-1.2.1' kokoro-js@1.2.1"
        );
    }

    #[test]
    fn tail_keeps_the_last_meaningful_lines() {
        assert_eq!(tail("a\n\nb\nc  \n\n", 2), "b\nc");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn a_missing_client_names_itself_and_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let clients = Clients {
            pip: vec!["/nonexistent/pip-for-polyvox-test".into()],
            ..Clients::default()
        };
        let Err(err) = download(&clients, &ONNXRUNTIME, dir.path(), &mut |_| {}) else {
            panic!("download cannot succeed")
        };
        let msg = err.to_string();
        assert!(matches!(err, EngineError::ClientMissing { .. }), "{err:?}");
        assert!(
            msg.contains("/nonexistent/pip-for-polyvox-test") && msg.contains(PIP_ENV),
            "{msg}"
        );
        assert!(
            msg.contains("onnxruntime==1.32.0"),
            "the message carries the command: {msg}"
        );
    }

    #[test]
    fn a_failing_client_reports_its_stderr_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // `sh -c '...' pip` stands in for a pip that fails; the extra arguments land in $@.
        let script = "echo 'ERROR: No matching distribution found' >&2; exit 3".to_string();
        let clients = Clients {
            pip: vec!["sh".into(), "-c".into(), script, "pip".into()],
            ..Clients::default()
        };
        let Err(err) = download(&clients, &ONNXRUNTIME, dir.path(), &mut |_| {}) else {
            panic!("download cannot succeed")
        };
        let msg = err.to_string();
        assert!(matches!(err, EngineError::ClientFailed { .. }), "{err:?}");
        assert!(
            msg.contains("No matching distribution") && msg.contains("exit 3"),
            "{msg}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no half-made download is left behind"
        );
    }

    #[test]
    fn an_archive_left_by_an_earlier_run_is_reused_without_running_the_client() {
        let dir = tempfile::tempdir().unwrap();
        let pkg_dir = dir.path().join(ONNXRUNTIME.dir);
        std::fs::create_dir_all(&pkg_dir).unwrap();
        std::fs::write(pkg_dir.join("onnxruntime-1.32.0-cp311-none-any.whl"), b"x").unwrap();
        let clients = Clients {
            pip: vec!["/nonexistent/pip".into()],
            ..Clients::default()
        };
        let got = download(&clients, &ONNXRUNTIME, dir.path(), &mut |_| {})
            .map_err(|e| e.to_string())
            .unwrap();
        assert!(got.reused);
        assert_eq!(
            got.archive,
            pkg_dir.join("onnxruntime-1.32.0-cp311-none-any.whl")
        );
    }
}
