//! Integration tests of ferrocat-media with real images and archives generated in the test.

mod archive;
mod chunk;
mod image;

/// Deterministic pseudo-random bytes (xorshift64*), for noise images and garbage input.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
