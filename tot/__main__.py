from tot.cli import main

main()
