from tracker.cli.commands import main

main()
