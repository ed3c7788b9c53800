# The recipe's step after the build: the same /workspace, after the build.
echo "post.sh: after the build, in $(pwd)"
ls /workspace
