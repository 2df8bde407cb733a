from amr.cli import main

main()
