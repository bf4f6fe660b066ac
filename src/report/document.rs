//! The human report's model: a [`Document`] of [`Section`]s (paragraphs, one table of
//! [`TableCell`]s, notes), plain text that the Markdown and HTML renderers draw. A leaf: it
//! names no other part of the report, so every section builder can use it.

/// A table cell: text, shown strong (bold) or not.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCell {
    pub text: String,
    pub strong: bool,
}

impl From<String> for TableCell {
    fn from(text: String) -> Self {
        TableCell {
            text,
            strong: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub title: String,
    pub paragraphs: Vec<String>,
    pub header: Vec<&'static str>,
    /// Columns aligned right (numbers).
    pub right: Vec<bool>,
    pub rows: Vec<Vec<TableCell>>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub title: String,
    /// The verdict block, rendered first (before the intro): a run's answer to its claims.
    pub verdict: Option<Section>,
    pub intro: String,
    pub sections: Vec<Section>,
}
