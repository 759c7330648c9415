"""Execute one notebook headless with the tslab kernel; on a cell error print the notebook, the cell and
the error, and exit 1. Usage: run-notebook.py NOTEBOOK OUTPUT [TIMEOUT_SECONDS]"""
import sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

def main():
    src, out = sys.argv[1], sys.argv[2]
    timeout = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    nb = nbformat.read(src, as_version=4)
    import os
    client = NotebookClient(nb, timeout=timeout, kernel_name="tslab",
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}})
    try:
        client.execute()
    except CellExecutionError as e:
        nbformat.write(nb, out)
        for i, cell in enumerate(nb.cells):
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                sys.stderr.write(f"{src}: cell {i} failed:\n----- cell source -----\n{cell.source}\n-----------------------\n")
                break
        sys.stderr.write(f"{e.ename}: {e.evalue}\n")
        sys.exit(1)
    except Exception as e:  # kernel died, timeout...
        nbformat.write(nb, out)
        sys.stderr.write(f"{src}: execution failed: {type(e).__name__}: {e}\n")
        sys.exit(1)
    nbformat.write(nb, out)

if __name__ == "__main__":
    main()
