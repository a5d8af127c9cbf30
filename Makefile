.PHONY: setup demo test test-unit bench lint

setup:
	./setup.sh

demo: setup
	.venv/bin/python launch.py demo

test: setup
	.venv/bin/python -m pytest -q

test-unit: setup
	.venv/bin/python -m pytest -q -m unit

bench: setup
	.venv/bin/python launch.py bench

lint: setup
	.venv/bin/ruff check .
