//! MQTT's primitive encodings (MQTT 3.1.1 §1.5 and §2.2.3, MQTT 5 §1.5) read through a
//! bounds-checked cursor in the style of rustls' `codec::Reader`: every read returns `None`
//! or an error instead of panicking, and nothing allocates.
//!
//! The PROXY codec has its own `Reader` (`proxy_protocol::wire`), private to that module;
//! this one adds what MQTT needs on top (Variable Byte Integers, length-prefixed strings).

/// Longest Variable Byte Integer in bytes: four, for values up to 268,435,455
/// (MQTT 5 §1.5.5; MQTT 3.1.1 §2.2.3 for the Remaining Length).
pub const VBI_MAX_LEN: usize = 4;

/// Largest value a Variable Byte Integer can carry (2^28 − 1).
pub const VBI_MAX: u32 = 268_435_455;

/// What the bytes at the start of a buffer say as a Variable Byte Integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vbi {
    /// The value and how many bytes encoded it.
    Complete { value: u32, len: usize },
    /// Every byte present has the continuation bit set; at least one more is needed.
    Incomplete,
    /// A fifth byte would be needed (the fourth has the continuation bit set).
    TooLong,
    /// More bytes than the value needs (a trailing `0x00` after a continuation bit).
    /// MQTT 5 forbids it [MQTT-1.5.5-1]; 3.1.1's encoding algorithm (§2.2.3) never produces
    /// it, and a length two parsers could read differently is a smuggling vector.
    NotMinimal,
}

/// Decodes the Variable Byte Integer at the start of `bytes`.
pub fn decode_vbi(bytes: &[u8]) -> Vbi {
    let mut value: u32 = 0;
    for (i, &byte) in bytes.iter().take(VBI_MAX_LEN).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Vbi::NotMinimal;
            }
            return Vbi::Complete { value, len: i + 1 };
        }
    }
    if bytes.len() >= VBI_MAX_LEN {
        Vbi::TooLong
    } else {
        Vbi::Incomplete
    }
}

/// Why a read inside a packet failed. Inside a packet whose Remaining Length has fully
/// arrived, running out of bytes means the lengths disagree: the packet is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// A field runs past the end of its enclosing length.
    Short,
    /// A Variable Byte Integer that is over-long or not minimal.
    BadVbi,
    /// A UTF-8 Encoded String that is not well-formed UTF-8 [MQTT-1.5.3-1] or contains
    /// U+0000 [MQTT-1.5.3-2].
    BadUtf8,
}

/// A forward-only reader over borrowed bytes. Nothing it does can panic.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `len` bytes; nothing is consumed if fewer remain.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], ReadError> {
        let (head, tail) = self.rest.split_at_checked(len).ok_or(ReadError::Short)?;
        self.rest = tail;
        Ok(head)
    }

    /// A reader over the next `len` bytes, consuming them from this one.
    pub fn sub(&mut self, len: usize) -> Result<Reader<'a>, ReadError> {
        self.take(len).map(Reader::new)
    }

    pub fn u8(&mut self) -> Result<u8, ReadError> {
        self.array::<1>().map(|[b]| b)
    }

    pub fn u16(&mut self) -> Result<u16, ReadError> {
        self.array::<2>().map(u16::from_be_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, ReadError> {
        self.array::<4>().map(u32::from_be_bytes)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| ReadError::Short)
    }

    /// A Variable Byte Integer (MQTT 5 §1.5.5).
    pub fn vbi(&mut self) -> Result<u32, ReadError> {
        match decode_vbi(self.rest) {
            Vbi::Complete { value, len } => {
                self.take(len)?;
                Ok(value)
            }
            Vbi::Incomplete => Err(ReadError::Short),
            Vbi::TooLong | Vbi::NotMinimal => Err(ReadError::BadVbi),
        }
    }

    /// Binary Data: a two-byte length, then that many bytes (MQTT 5 §1.5.6).
    pub fn binary(&mut self) -> Result<&'a [u8], ReadError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 Encoded String (MQTT 5 §1.5.4, MQTT 3.1.1 §1.5.3): a two-byte length, then
    /// well-formed UTF-8 without U+0000. Rust's `str` already excludes the surrogates
    /// U+D800..U+DFFF and over-long encodings that [MQTT-1.5.4-1] forbids.
    pub fn utf8(&mut self) -> Result<&'a str, ReadError> {
        let bytes = self.binary()?;
        let text = core::str::from_utf8(bytes).map_err(|_| ReadError::BadUtf8)?;
        if bytes.contains(&0) {
            return Err(ReadError::BadUtf8);
        }
        Ok(text)
    }

    /// Everything not yet read, consuming it.
    pub fn all(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Appends `value` as a Variable Byte Integer; `None` if it exceeds [`VBI_MAX`].
pub fn encode_vbi(mut value: u32, out: &mut Vec<u8>) -> Option<()> {
    if value > VBI_MAX {
        return None;
    }
    loop {
        let mut byte = (value & 0x7f) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            return Some(());
        }
    }
}

#[cfg(test)]
mod tests;
