//! A minimal safe wrapper over the system libmp3lame (Debian `libmp3lame-dev`, LAME 3.100, LGPL-2.0+).
//!
//! Why FFI and not a crate: the `mp3lame-encoder` crate compiles a vendored LAME into our binary,
//! and statically linking LGPL code obliges us to ship relinkable objects. Linking the distro's
//! shared library keeps LAME replaceable by the user, costs no C build, and needs only the dozen
//! functions below. Every `unsafe` block is confined to this file.

use std::ffi::{CStr, c_char, c_int, c_uchar, c_void};
use std::ptr::NonNull;

use polyvox_core::{AudioFormat, SAMPLE_RATE};

use crate::AudioError;

/// Opaque `lame_global_flags`.
#[repr(C)]
struct LameGlobalFlags {
    _private: [u8; 0],
}

const MPEG_MODE_MONO: c_int = 3;
const VBR_OFF: c_int = 0;
/// LAME quality 0 (best) ..= 9 (worst); 3 is near-best at a fraction of the cost of 0-2.
const QUALITY: c_int = 3;

#[link(name = "mp3lame")]
unsafe extern "C" {
    fn get_lame_short_version() -> *const c_char;
    fn lame_init() -> *mut LameGlobalFlags;
    fn lame_close(gfp: *mut LameGlobalFlags) -> c_int;
    fn lame_set_num_channels(gfp: *mut LameGlobalFlags, n: c_int) -> c_int;
    fn lame_set_in_samplerate(gfp: *mut LameGlobalFlags, hz: c_int) -> c_int;
    fn lame_set_out_samplerate(gfp: *mut LameGlobalFlags, hz: c_int) -> c_int;
    fn lame_set_mode(gfp: *mut LameGlobalFlags, mode: c_int) -> c_int;
    fn lame_set_VBR(gfp: *mut LameGlobalFlags, mode: c_int) -> c_int;
    fn lame_set_brate(gfp: *mut LameGlobalFlags, kbps: c_int) -> c_int;
    fn lame_set_quality(gfp: *mut LameGlobalFlags, q: c_int) -> c_int;
    fn lame_set_bWriteVbrTag(gfp: *mut LameGlobalFlags, on: c_int) -> c_int;
    // The report callbacks take a `va_list`; we only ever pass NULL (silence), so the
    // parameter type is irrelevant here.
    fn lame_set_errorf(gfp: *mut LameGlobalFlags, f: *const c_void) -> c_int;
    fn lame_set_debugf(gfp: *mut LameGlobalFlags, f: *const c_void) -> c_int;
    fn lame_set_msgf(gfp: *mut LameGlobalFlags, f: *const c_void) -> c_int;
    fn lame_init_params(gfp: *mut LameGlobalFlags) -> c_int;
    fn lame_get_encoder_delay(gfp: *const LameGlobalFlags) -> c_int;
    fn lame_encode_buffer(
        gfp: *mut LameGlobalFlags,
        left: *const i16,
        right: *const i16,
        nsamples: c_int,
        mp3buf: *mut c_uchar,
        mp3buf_size: c_int,
    ) -> c_int;
    fn lame_encode_flush(gfp: *mut LameGlobalFlags, mp3buf: *mut c_uchar, size: c_int) -> c_int;
}

/// Input handed to LAME per call; bounds the output buffer and keeps `c_int` conversions trivially safe.
const MAX_CALL_SAMPLES: usize = 1 << 16;
/// LAME's documented worst case for `lame_encode_buffer` output: 1.25 × samples + 7200 bytes.
const fn out_capacity(samples: usize) -> usize {
    samples + samples / 4 + 7200
}

/// The library's version ("3.100"), for the encoder field of our gapless tags.
pub(crate) fn version() -> String {
    // SAFETY: LAME returns a pointer to a static NUL-terminated string (or NULL, handled).
    let ptr = unsafe { get_lame_short_version() };
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated and 'static per LAME's API.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// One LAME encoder: mono, 24 kHz in and out, CBR.
pub(crate) struct Lame {
    gfp: NonNull<LameGlobalFlags>,
}

// SAFETY: the handle is exclusively owned by this value and LAME keeps no thread-local or global
// mutable state per encoder; all access goes through `&mut self` (or `&self` for read-only
// getters), so moving it to another thread is sound.
unsafe impl Send for Lame {}

fn lame_err(message: impl std::fmt::Display) -> AudioError {
    AudioError::codec(AudioFormat::Mp3, message)
}

impl Lame {
    /// A CBR encoder. LAME's own Xing/LAME tag is off: it needs the output rewritten at the end and
    /// is skipped below 56 kbps at 24 kHz; `mp3` writes its own tag instead.
    pub(crate) fn new(bitrate_kbps: u32) -> Result<Self, AudioError> {
        let kbps = c_int::try_from(bitrate_kbps).map_err(|_| lame_err("bitrate out of range"))?;
        // SAFETY: lame_init has no preconditions; NULL means allocation failure.
        let gfp =
            NonNull::new(unsafe { lame_init() }).ok_or_else(|| lame_err("lame_init failed"))?;
        let lame = Self { gfp };
        let p = lame.gfp.as_ptr();
        // SAFETY: `p` is a live handle from lame_init; setters only store values (their return
        // codes are re-validated by lame_init_params). NULL report functions silence LAME's stderr.
        let rc = unsafe {
            lame_set_errorf(p, std::ptr::null());
            lame_set_debugf(p, std::ptr::null());
            lame_set_msgf(p, std::ptr::null());
            lame_set_num_channels(p, 1);
            lame_set_in_samplerate(p, SAMPLE_RATE as c_int);
            lame_set_out_samplerate(p, SAMPLE_RATE as c_int);
            lame_set_mode(p, MPEG_MODE_MONO);
            lame_set_VBR(p, VBR_OFF);
            lame_set_brate(p, kbps);
            lame_set_quality(p, QUALITY);
            lame_set_bWriteVbrTag(p, 0);
            lame_init_params(p)
        };
        if rc < 0 {
            return Err(lame_err(format!(
                "lame_init_params returned {rc} for {bitrate_kbps} kbps"
            )));
        }
        Ok(lame)
    }

    /// Samples of delay LAME adds at the start (decoders add 529 more); needed for gapless tags.
    pub(crate) fn encoder_delay(&self) -> u32 {
        // SAFETY: live handle, read-only getter.
        let d = unsafe { lame_get_encoder_delay(self.gfp.as_ptr()) };
        u32::try_from(d).unwrap_or(0)
    }

    /// Encodes 16-bit samples, appending whatever MP3 frames are complete.
    pub(crate) fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), AudioError> {
        for block in pcm.chunks(MAX_CALL_SAMPLES) {
            let cap = out_capacity(block.len());
            out.reserve(cap);
            let start = out.len();
            // SAFETY: `block` is valid for `block.len()` reads (mono: the right channel pointer is
            // ignored, we pass the same buffer); the spare capacity of `out` is valid for `cap`
            // writes; both lengths fit c_int (block ≤ 2^16, cap ≤ ~90 KB).
            let n = unsafe {
                lame_encode_buffer(
                    self.gfp.as_ptr(),
                    block.as_ptr(),
                    block.as_ptr(),
                    block.len() as c_int,
                    out.as_mut_ptr().add(start),
                    cap as c_int,
                )
            };
            let n = usize::try_from(n)
                .map_err(|_| lame_err(format!("lame_encode_buffer returned {n}")))?;
            if n > cap {
                return Err(lame_err("lame_encode_buffer overran its buffer"));
            }
            // SAFETY: LAME initialised exactly `n` bytes after `start`, within the reserved capacity.
            unsafe { out.set_len(start + n) };
        }
        Ok(())
    }

    /// Flushes the encoder's buffered samples (padding the last frame).
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), AudioError> {
        let cap = 7200 * 2;
        out.reserve(cap);
        let start = out.len();
        // SAFETY: as in `encode`; flush writes at most `cap` bytes into the spare capacity.
        let n = unsafe {
            lame_encode_flush(self.gfp.as_ptr(), out.as_mut_ptr().add(start), cap as c_int)
        };
        let n =
            usize::try_from(n).map_err(|_| lame_err(format!("lame_encode_flush returned {n}")))?;
        if n > cap {
            return Err(lame_err("lame_encode_flush overran its buffer"));
        }
        // SAFETY: LAME initialised exactly `n` bytes.
        unsafe { out.set_len(start + n) };
        Ok(())
    }
}

impl Drop for Lame {
    fn drop(&mut self) {
        // SAFETY: the handle is live and never used again.
        unsafe {
            lame_close(self.gfp.as_ptr());
        }
    }
}
