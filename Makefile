# Convenience targets; each one runs ./setup.sh first (idempotent).
.PHONY: setup test demo bench clean
setup:
	./setup.sh
test: setup
	.venv/bin/python -m pytest -q
demo: setup
	.venv/bin/mots demo
bench: setup
	.venv/bin/python benchmarks/bench_eval.py
	.venv/bin/python benchmarks/bench_tracker.py
	.venv/bin/python benchmarks/bench_nodes.py
clean:
	rm -rf .venv out build *.egg-info
