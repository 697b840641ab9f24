"""`python -m logbot` is the same as the `logbot` command."""

from logbot.cli import main

if __name__ == "__main__":
    main(prog_name="logbot")
