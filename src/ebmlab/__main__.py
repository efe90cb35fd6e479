from ebmlab.cli import main

main()
