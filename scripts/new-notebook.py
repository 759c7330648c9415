"""Write a clean notebook (tslab kernel, no outputs) from a plain-text source where cells are separated by
lines `# %% [markdown]` or `# %%`. Usage: new-notebook.py SOURCE.txt OUT.ipynb
Used to author notebooks/*.ipynb; the .ipynb files are what is committed and tested."""
import sys
import nbformat

def main():
    src, out = sys.argv[1], sys.argv[2]
    cells, kind, buf = [], None, []
    def flush():
        if kind is None:
            return
        text = "\n".join(buf).strip("\n")
        cells.append(nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text))
    for line in open(src, encoding="utf8").read().split("\n"):
        if line.startswith("# %% [markdown]"):
            flush(); kind, buf = "md", []
        elif line.startswith("# %%"):
            flush(); kind, buf = "code", []
        else:
            buf.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "tslab", "display_name": "TypeScript (tslab, cbir)", "language": "typescript"}
    nb.metadata["language_info"] = {"name": "typescript", "file_extension": ".ts"}
    nbformat.write(nb, out)

if __name__ == "__main__":
    main()
