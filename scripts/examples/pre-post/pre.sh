# The recipe's step before the build: runs in the bash image, in /workspace
# (the run's context, mounted), as in ACR.
echo "pre.sh: before the build, in $(pwd)"
ls /workspace
