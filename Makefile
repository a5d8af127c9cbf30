.PHONY: setup demo test bench lint

setup:
	./setup.sh

demo: setup
	.venv/bin/python launch.py demo

test: setup
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python launch.py bench

lint: setup
	.venv/bin/ruff check .
