//! Which image formats are accepted, recognised by their first bytes ("magic bytes"), never by
//! a file name or a declared content type.

/// Bytes to read from the start of a file to recognise it.
pub const SNIFF_LEN: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Webp,
    Gif,
    Avif,
}

pub const ACCEPTED: &[ImageType] =
    &[ImageType::Jpeg, ImageType::Png, ImageType::Webp, ImageType::Gif, ImageType::Avif];

impl ImageType {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Avif => "image/avif",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Avif => "avif",
        }
    }

    /// The type a declared MIME type names (`image/jpg` is a common alias of `image/jpeg`).
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "image/jpg" => Some(Self::Jpeg),
            _ => ACCEPTED.iter().copied().find(|t| t.mime() == essence),
        }
    }

    /// Recognises an image by its first bytes (at least [`SNIFF_LEN`] of them, when the file
    /// is that long).
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            return Some(Self::Gif);
        }
        if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            return Some(Self::Webp);
        }
        if is_avif(head) {
            return Some(Self::Avif);
        }
        None
    }
}

/// AVIF is an ISO base media file: a leading `ftyp` box whose major brand, or one of whose
/// compatible brands, is `avif` (still image) or `avis` (image sequence).
fn is_avif(head: &[u8]) -> bool {
    if head.len() < 16 || &head[4..8] != b"ftyp" {
        return false;
    }
    let box_size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if box_size < 16 {
        return false;
    }
    let end = box_size.min(head.len());
    let is_avif_brand = |brand: &[u8]| brand == b"avif" || brand == b"avis";
    // Major brand at 8..12, minor version at 12..16, then compatible brands of 4 bytes each.
    is_avif_brand(&head[8..12]) || head[16..end].chunks_exact(4).any(is_avif_brand)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_first_bytes() {
        let cases: [(&[u8], ImageType); 7] = [
            (b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00", ImageType::Jpeg),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ImageType::Png),
            (b"GIF89a\x01\x00\x01\x00", ImageType::Gif),
            (b"GIF87a\x01\x00\x01\x00", ImageType::Gif),
            (b"RIFF\x24\x00\x00\x00WEBPVP8 ", ImageType::Webp),
            (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", ImageType::Avif),
            // Major brand mif1, AVIF among the compatible brands.
            (b"\x00\x00\x00\x20ftypmif1\x00\x00\x00\x00mif1avifmiafMA1B", ImageType::Avif),
        ];
        for (head, expected) in cases {
            assert_eq!(ImageType::sniff(head), Some(expected), "{head:?}");
        }
    }

    #[test]
    fn other_content_is_refused_whatever_its_name() {
        for head in [
            &b"hello, this is text pretending to be a PNG"[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"%PDF-1.7",
            b"RIFF\x24\x00\x00\x00WAVEfmt ",
            // HEIC (not accepted): an ftyp box without an AVIF brand.
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
            // Too short to tell.
            b"\x89PN",
            b"",
        ] {
            assert_eq!(ImageType::sniff(head), None, "{head:?}");
        }
    }

    #[test]
    fn declared_types_map_to_accepted_ones() {
        assert_eq!(ImageType::from_mime("image/PNG"), Some(ImageType::Png));
        assert_eq!(ImageType::from_mime("image/jpg"), Some(ImageType::Jpeg));
        assert_eq!(ImageType::from_mime("image/webp; q=1"), Some(ImageType::Webp));
        assert_eq!(ImageType::from_mime("image/svg+xml"), None);
        assert_eq!(ImageType::from_mime("text/plain"), None);
    }
}
