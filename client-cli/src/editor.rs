//! Writing a long text in the user's editor (`$VISUAL`, `$EDITOR`, else `vi`).

/// Opens the editor on `text` in a temporary file; returns what was saved.
pub async fn edit(text: &str) -> Result<String, String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let path = std::env::temp_dir().join(format!("circles-post-{}.md", std::process::id()));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .await;
    let edited = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    match status {
        Ok(status) if status.success() => {
            edited.map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        Ok(_) => Err(format!(
            "the editor {editor:?} failed; the text is unchanged"
        )),
        Err(e) => Err(format!("cannot start the editor {editor:?}: {e}")),
    }
}
