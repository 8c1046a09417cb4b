"""The library reads bottom-up: every module imports only from its own layer or the layers below, with no cycles."""
import ast, subprocess, sys
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "edgeglass"
LAYERS = {  # module -> layer, as in CONTRIBUTING.md
    "utils": 1, "convert": 1, "zoo": 1,
    "perceiver": 2, "mrl": 2, "losses": 2, "fusion": 2, "data": 2,
    "encoders.base": 3, "encoders.efficientnet": 3, "encoders.vision": 3, "encoders.text": 3, "encoders.audio": 3,
    "models.alignment": 4, "decoders.qwen": 4, "decoders.trm": 4, "models.vlm": 4, "testing": 4,
    "cache": 5, "train": 5, "evaluate": 5, "runs": 5, "index": 5, "probes": 5,
    "stage1": 6, "stage2": 6, "stage2_trm": 6, "export": 6, "serve": 6,
    "cli": 7,
}

def module_name(path: Path) -> str:
    return ".".join(path.relative_to(LIB).with_suffix("").parts)

def imports(path: Path) -> set[str]:
    "The edgeglass modules that `path` imports (relative or absolute), anywhere in the file."
    pkg = module_name(path).split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("edgeglass."): name = node.module[len("edgeglass."):]
            else: continue
            out.add(name)
        elif isinstance(node, ast.Import):
            out |= {a.name[len("edgeglass."):] for a in node.names if a.name.startswith("edgeglass.")}
    return {m for m in out if m in LAYERS}

def library() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in LIB.rglob("*.py") if p.name not in ("__init__.py", "_modidx.py")}

def test_every_module_has_a_layer():
    assert set(library()) == set(LAYERS), set(library()) ^ set(LAYERS)

def test_no_upward_imports():
    bad = [f"{m} (layer {LAYERS[m]}) imports {d} (layer {LAYERS[d]})" for m, deps in library().items() for d in deps if LAYERS[d] > LAYERS[m]]
    assert not bad, bad

def test_no_import_cycles():
    graph, done, path = library(), set(), []
    def visit(m):
        if m in path: raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if m in done: return
        path.append(m)
        for d in graph[m]: visit(d)
        path.pop(); done.add(m)
    for m in graph: visit(m)

def test_cli_holds_no_pipeline_logic():
    "cli.py imports no model, trainer, cache or data module: every command is one call into a pipeline module."
    assert imports(LIB / "cli.py") <= {"evaluate", "runs", "index", "stage1", "stage2", "stage2_trm", "export", "serve"}, imports(LIB / "cli.py")

def _loaded_after(code: str, names: tuple) -> list[str]:
    "Which of `names` a fresh interpreter has imported after running `code`."
    probe = f"{code}\nimport sys; print(' '.join(n for n in {names!r} if n in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.split()

def test_cli_imports_pipelines_only_when_a_command_runs():
    "`edgeglass --help` and `edgeglass CMD --help` need only the parser: no torch, transformers or gradio."
    assert _loaded_after("import edgeglass.cli as c; c.parse_command(['serve', '--run', 'r'])", ("torch", "transformers", "gradio", "edgeglass.stage1")) == []

def test_no_bitsandbytes_unless_quantising():
    """Loading the offline Stage 1 model (MiniLM through sentence-transformers, which imports peft), and training (the
    trainer's schedule comes from transformers, which imports peft too), each leave bitsandbytes unloaded."""
    load = "from edgeglass.models.alignment import *; MultimodalAlignmentModel(MultimodalAlignmentConfig.offline())"
    train = ("import tempfile; from pathlib import Path\n"
             "from edgeglass.testing import shapes_manifest; from edgeglass.stage1 import RunConfig, run_align; from edgeglass.cache import FeatureCache\n"
             "t = Path(tempfile.mkdtemp()); run_align(shapes_manifest(t/'d', n=8, size=32), t/'r', RunConfig.tiny(), cache=FeatureCache(t/'c'), progress=False)")
    for code in (load, train): assert _loaded_after(code, ("bitsandbytes", "peft")) == ["peft"], code
