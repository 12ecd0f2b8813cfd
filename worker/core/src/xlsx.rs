//! A minimal XLSX writer for the usage export (`GET /admin/usage?format=xlsx`): one worksheet
//! of numbers and inline strings in an Office Open XML package, zipped with the entries
//! *stored* (no compression) and their CRC-32 computed here. A report is a few hundred rows,
//! so deflate would save little and cost a dependency; every spreadsheet program reads stored
//! entries. Pure: bytes in, bytes out.

use crate::usage::{Group, UsageRow};

/// One cell: numbers stay numbers (a spreadsheet can sum them), text is an inline string.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Number(f64),
    Text(String),
}

impl From<u64> for Cell {
    fn from(n: u64) -> Cell {
        Cell::Number(n as f64)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::Text(text.to_string())
    }
}

/// The media type of an `.xlsx` file.
pub const CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The usage report as a workbook: the same header and rows as the CSV export.
pub fn usage_workbook(group: Group, rows: &[UsageRow]) -> Vec<u8> {
    let mut sheet = vec![[
        group.column(),
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
    ]
    .map(Cell::from)
    .to_vec()];
    for row in rows {
        sheet.push(vec![
            Cell::from(row.key.as_str()),
            Cell::from(row.requests),
            Cell::from(row.prompt_tokens),
            Cell::from(row.completion_tokens),
            Cell::from(row.cached_tokens),
            Cell::from(row.reasoning_tokens),
            Cell::from(row.total_tokens),
            Cell::Number(row.cost_usd),
        ]);
    }
    workbook("Usage", &sheet)
}

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

const CONTENT_TYPES: &str = "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>\
</Types>";

const ROOT_RELS: &str = "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>\
</Relationships>";

const WORKBOOK_RELS: &str = "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>\
</Relationships>";

/// A workbook of one worksheet named `sheet_name` (fixed text: it is not escaped for Excel's
/// sheet-name rules), with `rows` from A1 on.
pub fn workbook(sheet_name: &str, rows: &[Vec<Cell>]) -> Vec<u8> {
    let workbook = format!(
        "{XML_HEAD}<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
         xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
         <sheets><sheet name=\"{}\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
        escape(sheet_name)
    );
    let entries: [(&str, Vec<u8>); 5] = [
        (
            "[Content_Types].xml",
            format!("{XML_HEAD}{CONTENT_TYPES}").into_bytes(),
        ),
        ("_rels/.rels", format!("{XML_HEAD}{ROOT_RELS}").into_bytes()),
        ("xl/workbook.xml", workbook.into_bytes()),
        (
            "xl/_rels/workbook.xml.rels",
            format!("{XML_HEAD}{WORKBOOK_RELS}").into_bytes(),
        ),
        ("xl/worksheets/sheet1.xml", worksheet(rows).into_bytes()),
    ];
    stored_zip(&entries)
}

fn worksheet(rows: &[Vec<Cell>]) -> String {
    let mut xml = format!(
        "{XML_HEAD}<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
    );
    for (row_index, row) in rows.iter().enumerate() {
        let row_number = row_index + 1;
        xml.push_str(&format!("<row r=\"{row_number}\">"));
        for (column_index, cell) in row.iter().enumerate() {
            let reference = format!("{}{row_number}", column_name(column_index));
            match cell {
                Cell::Number(n) if n.is_finite() => {
                    // Rust prints f64 without an exponent, which xsd:double accepts.
                    xml.push_str(&format!("<c r=\"{reference}\"><v>{n}</v></c>"));
                }
                // NaN and infinities are not numbers a spreadsheet can hold.
                Cell::Number(_) => {
                    xml.push_str(&format!("<c r=\"{reference}\"/>"));
                }
                Cell::Text(text) => xml.push_str(&format!(
                    "<c r=\"{reference}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
                    escape(text)
                )),
            }
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// `A`, `B`, ... `Z`, `AA`, ...: the column of a zero-based index.
pub fn column_name(mut index: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// Text as XML character data: markup escaped, and the control characters XML 1.0 cannot
/// carry at all (everything below U+0020 but tab, newline and carriage return) left out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zip records it.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = crc_table();
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc = TABLE[((crc ^ u32::from(*byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
}

/// 1980-01-01 00:00 in MS-DOS form, the earliest a zip can say: the export has no file
/// dates worth keeping, and a fixed one makes the bytes reproducible.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
/// Zip 2.0: what a reader needs for stored entries.
const ZIP_VERSION: u16 = 20;

/// A zip of `entries` (name, bytes), each stored uncompressed. Names are ASCII here. Sizes
/// stay far below zip's 4 GiB limit (no zip64).
pub fn stored_zip(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    fn u16le(out: &mut Vec<u8>, n: u16) {
        out.extend_from_slice(&n.to_le_bytes());
    }
    fn u32le(out: &mut Vec<u8>, n: u32) {
        out.extend_from_slice(&n.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let size = data.len() as u32;
        // The fields both headers share, from "version needed" to the name's length.
        let common = |out: &mut Vec<u8>| {
            u16le(out, ZIP_VERSION);
            u16le(out, 0); // flags
            u16le(out, 0); // method: stored
            u16le(out, DOS_TIME);
            u16le(out, DOS_DATE);
            u32le(out, crc);
            u32le(out, size); // compressed size
            u32le(out, size); // uncompressed size
            u16le(out, name.len() as u16);
            u16le(out, 0); // extra field length
        };
        u32le(&mut out, 0x0403_4b50);
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, ZIP_VERSION); // made by
        common(&mut central);
        u16le(&mut central, 0); // comment length
        u16le(&mut central, 0); // disk number
        u16le(&mut central, 0); // internal attributes
        u32le(&mut central, 0); // external attributes
        u32le(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    let central_size = central.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0); // this disk
    u16le(&mut out, 0); // the disk with the directory
    u16le(&mut out, entries.len() as u16);
    u16le(&mut out, entries.len() as u16);
    u32le(&mut out, central_size);
    u32le(&mut out, central_offset);
    u16le(&mut out, 0); // comment length
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a stored zip back: (name, bytes) per central directory entry, checking each CRC
    /// and that the local header agrees. Enough of a reader to hold the writer to the format.
    fn unzip(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let u16at = |at: usize| u16::from_le_bytes([zip[at], zip[at + 1]]) as usize;
        let u32at = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap());
        let end = zip.len() - 22;
        assert_eq!(u32at(end), 0x0605_4b50, "end of central directory");
        let count = u16at(end + 10);
        let mut at = u32at(end + 16) as usize;
        let mut files = Vec::new();
        for _ in 0..count {
            assert_eq!(u32at(at), 0x0201_4b50);
            assert_eq!(u16at(at + 10), 0, "stored");
            let crc = u32at(at + 16);
            let size = u32at(at + 20) as usize;
            let name_len = u16at(at + 28);
            let local = u32at(at + 42) as usize;
            let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
            assert_eq!(u32at(local), 0x0403_4b50);
            assert_eq!(u32at(local + 14), crc, "local CRC of {name}");
            let data_at = local + 30 + u16at(local + 26) + u16at(local + 28);
            let data = zip[data_at..data_at + size].to_vec();
            assert_eq!(crc32(&data), crc, "CRC of {name}");
            files.push((name, data));
            at += 46 + name_len;
        }
        files
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The check value every CRC-32/ISO-HDLC implementation gives for "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn columns_are_named_like_a_spreadsheet() {
        for (index, name) in [
            (0, "A"),
            (7, "H"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (701, "ZZ"),
            (702, "AAA"),
        ] {
            assert_eq!(column_name(index), name);
        }
    }

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(escape("tab\there\u{0}\u{1b}end"), "tab\thereend");
        assert_eq!(escape("张三"), "张三");
    }

    #[test]
    fn the_workbook_holds_the_five_parts_and_the_cells() {
        let rows = vec![
            UsageRow {
                key: "u:<张三> & co".into(),
                requests: 3,
                prompt_tokens: 10,
                completion_tokens: 20,
                cached_tokens: 1,
                reasoning_tokens: 2,
                total_tokens: 30,
                cost_usd: 0.000123,
            },
            UsageRow {
                key: "=1+1".into(),
                requests: 1,
                prompt_tokens: 0,
                completion_tokens: 0,
                cached_tokens: 0,
                reasoning_tokens: 0,
                total_tokens: 0,
                cost_usd: 0.0,
            },
        ];
        let files = unzip(&usage_workbook(Group::User, &rows));
        let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "[Content_Types].xml",
                "_rels/.rels",
                "xl/workbook.xml",
                "xl/_rels/workbook.xml.rels",
                "xl/worksheets/sheet1.xml"
            ]
        );
        let sheet = String::from_utf8(files[4].1.clone()).unwrap();
        assert!(sheet.contains(
            "<c r=\"A1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">user</t></is></c>"
        ));
        assert!(sheet.contains(
            "<c r=\"A2\" t=\"inlineStr\"><is><t xml:space=\"preserve\">u:&lt;张三&gt; &amp; co</t></is></c>"
        ));
        assert!(sheet.contains("<c r=\"B2\"><v>3</v></c>"));
        assert!(sheet.contains("<c r=\"H2\"><v>0.000123</v></c>"));
        // A key that looks like a formula stays text: inline strings are never evaluated.
        assert!(sheet.contains("<t xml:space=\"preserve\">=1+1</t>"));
        assert!(!sheet.contains("<f>"));
        let workbook = String::from_utf8(files[2].1.clone()).unwrap();
        assert!(workbook.contains("<sheet name=\"Usage\" sheetId=\"1\" r:id=\"rId1\"/>"));
    }

    #[test]
    fn numbers_that_are_not_numbers_become_empty_cells() {
        let files = unzip(&workbook(
            "S",
            &[vec![Cell::Number(f64::NAN), Cell::Number(1e-7)]],
        ));
        let sheet = String::from_utf8(files[4].1.clone()).unwrap();
        assert!(sheet.contains("<c r=\"A1\"/>"));
        assert!(sheet.contains("<v>0.0000001</v>"));
    }
}
