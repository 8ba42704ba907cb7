//! `polyvox say`: text in, audio file out, with a progress bar and a real-time-factor report.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use polyvox_core::request::FieldNames;
use polyvox_core::timing::{self, CaptionFormat};
use polyvox_core::{AudioFormat, Error, ErrorCode, Limits, RawSynthesisRequest};

use crate::cli::SayArgs;
use crate::runtime;

pub fn run(args: SayArgs) -> Result<(), crate::Failure> {
    let text = read_text(&args)?;
    let format = match &args.format {
        Some(f) => AudioFormat::parse(f, "--format")?,
        None => AudioFormat::from_path_extension(&args.output.to_string_lossy()).ok_or_else(|| {
            Error::new(
                ErrorCode::UnsupportedFormat,
                format!(
                    "cannot tell the audio format of '{}' from its extension; use .mp3 .opus .ogg .flac .wav .pcm or --format",
                    args.output.display()
                ),
            )
        })?,
    };
    let limits = Limits {
        max_input_chars: args.max_chars,
        ..Limits::default()
    };
    let raw = RawSynthesisRequest {
        text,
        voice: args.voice.clone(),
        lang: args.lang.clone(),
        speed: Some(args.speed),
        format: Some(format.as_str().to_string()),
    };
    let input = args.ssml.then_some(polyvox_core::ssml::InputFormat::Ssml);
    let mut req = raw.validate_as(input, &limits, FieldNames::CLI)?;
    req.lexicons = read_lexicons(&args.lexicons)?;
    let captions = args
        .captions
        .as_deref()
        .map(|path| Ok::<_, Error>((caption_format(path)?, path)))
        .transpose()?;
    // Fail on an unwritable destination before spending minutes on synthesis.
    let mut out = open_output(&args.output)?;
    let mut captions_out = captions
        .map(|(format, path)| open_output(path).map(|f| (format, path, f)))
        .transpose()?;

    let synth = runtime::build_synthesizer(&args.engine).map_err(crate::Failure::Runtime)?;
    let result = (|| -> Result<_, crate::Failure> {
        let chunks = synth.plan(&req, false).map_err(Error::from)?;
        let bar = progress_bar(&args, chunks.len(), req.text.chars().count());
        let started = Instant::now();
        let rendered = synth
            .render_blocking(&req, &chunks, &mut |done, _| bar.set_position(done as u64))
            .map_err(Error::from)?;
        bar.finish_and_clear();
        let elapsed = started.elapsed().as_secs_f64();
        let bytes = polyvox_audio::encode(req.format, &rendered.pcm, &synth.config().encode)
            .map_err(|e| Error::new(e.code(), e.to_string()))?;
        std::io::Write::write_all(&mut out, &bytes).map_err(|e| {
            Error::new(
                ErrorCode::OutputUnwritable,
                format!("writing {}: {e}", args.output.display()),
            )
        })?;
        if let Some((format, path, file)) = captions_out.as_mut() {
            write_captions(&req, &rendered.words, *format, path, file)?;
        }
        Ok((rendered, elapsed, bytes.len()))
    })();
    match result {
        Ok((rendered, elapsed, size)) => {
            let audio = rendered.duration_secs();
            eprintln!(
                "Wrote {} ({}, {} bytes): {:.2} s of audio in {:.2} s, {:.2}× real time, {} chunk(s)",
                args.output.display(),
                req.format.as_str(),
                size,
                audio,
                elapsed,
                audio / elapsed.max(1e-9),
                rendered.chunks
            );
            Ok(())
        }
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&args.output);
            if let Some((_, path, file)) = captions_out {
                drop(file);
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// Reads and validates the `--lexicon` files, each named after its file.
fn read_lexicons(
    paths: &[std::path::PathBuf],
) -> Result<Vec<polyvox_core::lexicon::Lexicon>, Error> {
    use polyvox_core::lexicon::{self, LexiconLimits, RawLexicon};
    let limits = LexiconLimits::default();
    if paths.len() > limits.max_per_request {
        return Err(Error::new(
            ErrorCode::TooManyLexicons,
            format!(
                "--lexicon is given {} times; the limit is {}",
                paths.len(),
                limits.max_per_request
            ),
        ));
    }
    let mut out = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        let in_file = |e: Error| {
            Error::new(
                e.code,
                format!("--lexicon {}: {}", path.display(), e.message),
            )
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorCode::InvalidLexicon,
                format!(
                    "--lexicon {}: cannot read it as UTF-8 text: {e}",
                    path.display()
                ),
            )
        })?;
        let body = text.trim_start_matches('\u{feff}').trim_start();
        let raw = if body.starts_with('<') {
            lexicon::pls::parse(body).map_err(in_file)?
        } else {
            serde_json::from_str::<RawLexicon>(body).map_err(|e| {
                Error::new(
                    ErrorCode::InvalidLexicon,
                    format!(
                        "--lexicon {}: neither a PLS document nor a JSON lexicon ({e})",
                        path.display()
                    ),
                )
            })?
        };
        // The name only labels the lexicon here (it is in no cache key of its own): the file's
        // stem when it is a valid name, else its position.
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let name = if lexicon::check_name(&stem, "name").is_ok() {
            stem
        } else {
            format!("lexicon-{}", i + 1)
        };
        out.push(raw.validate(&name, &limits).map_err(in_file)?);
    }
    Ok(out)
}

/// The caption format of `path`'s extension.
fn caption_format(path: &Path) -> Result<CaptionFormat, Error> {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(CaptionFormat::parse)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::UnsupportedFormat,
                format!(
                    "--captions {}: cannot tell the caption format from its extension; use .vtt or .srt",
                    path.display()
                ),
            )
        })
}

fn write_captions(
    req: &polyvox_core::SynthesisRequest,
    words: &[polyvox_core::WordTiming],
    format: CaptionFormat,
    path: &Path,
    file: &mut std::fs::File,
) -> Result<(), Error> {
    if words.is_empty() {
        return Err(Error::new(
            ErrorCode::SynthesisFailed,
            "--captions: the model reported no word timings (is the model file the one `polyvox models fetch` installs?)",
        ));
    }
    let cues = timing::cues_in(&req.text, words, timing::MAX_LINE_CHARS, req.ssml.is_some());
    std::io::Write::write_all(file, timing::render(format, &cues).as_bytes()).map_err(|e| {
        Error::new(
            ErrorCode::OutputUnwritable,
            format!("writing {}: {e}", path.display()),
        )
    })
}

fn read_text(args: &SayArgs) -> Result<String, Error> {
    let (bytes, source) = match (&args.text, &args.file) {
        (Some(t), _) if t != "-" => return Ok(t.clone()),
        (_, Some(path)) => (
            std::fs::read(path).map_err(|e| {
                Error::new(
                    ErrorCode::InvalidRequest,
                    format!("--file {}: {e}", path.display()),
                )
            })?,
            format!("--file {}", path.display()),
        ),
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(Error::new(
                    ErrorCode::EmptyInput,
                    "text is missing: pass it as an argument, with --file, or on standard input",
                ));
            }
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                Error::new(
                    ErrorCode::InvalidRequest,
                    format!("reading standard input: {e}"),
                )
            })?;
            (buf, "standard input".to_string())
        }
    };
    String::from_utf8(bytes).map_err(|e| {
        Error::new(
            ErrorCode::InvalidUtf8,
            format!(
                "{source} is not valid UTF-8 (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn open_output(path: &Path) -> Result<std::fs::File, Error> {
    if path.is_dir() {
        return Err(Error::new(
            ErrorCode::OutputUnwritable,
            format!("--output {} is a directory", path.display()),
        ));
    }
    std::fs::File::create(path).map_err(|e| {
        Error::new(
            ErrorCode::OutputUnwritable,
            format!("--output {} cannot be written: {e}", path.display()),
        )
    })
}

fn progress_bar(args: &SayArgs, chunks: usize, chars: usize) -> ProgressBar {
    // A bar only helps when there is something to wait for and someone watching.
    if args.quiet || chunks < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(chunks as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} chunks ({msg}) ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{chars} chars"));
    bar
}
