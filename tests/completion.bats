#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# bash completion (completions/crashsafe): loaded as bash-completion loads
# it, asked to complete words as a shell would at a Tab.

load helpers

setup() {
	[ -f /usr/share/bash-completion/bash_completion ] || skip "bash-completion not installed"
	cd "$BATS_TEST_TMPDIR" || exit 1
	touch app.db schema.sql deploy.lock
}

# comp LINE: what Tab offers at the end of LINE, sorted, one line.
comp() {
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"
		compopt() { :; }	# only a real Tab has a completion to modify
		line=$2
		COMP_LINE=$line COMP_POINT=${#line}
		# words as bash splits them: at blanks, and at = and : apart
		COMP_WORDS=()
		read -ra toks <<< "$line"
		for tok in "${toks[@]}"; do
			while [[ $tok =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
				[[ -n ${BASH_REMATCH[1]} ]] && COMP_WORDS+=("${BASH_REMATCH[1]}")
				COMP_WORDS+=("${BASH_REMATCH[2]}")
				tok=${BASH_REMATCH[3]}
			done
			[[ -n $tok ]] && COMP_WORDS+=("$tok")
		done
		[[ $line == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		spec=$(complete -p "${COMP_WORDS[0]}") || exit 1
		fn=${spec#*-F }; fn=${fn%% *}
		"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		((${#COMPREPLY[@]})) || exit 0
		printf "%s\n" "${COMPREPLY[@]}" | sort -u | tr "\n" " "' \
		sh "$BATS_TEST_DIRNAME/../completions/crashsafe" "$1"
}

# --- what a Tab offers ----------------------------------------------------

@test "option values: --jitter, --sync, --format, --checkpoint" {
	[ "$(comp 'retry -j ')" = "decorrelated equal full none " ]
	[ "$(comp 'retry --jitter e')" = "equal " ]
	[ "$(comp 'atomicappend -S ')" = "data full none " ]
	[ "$(comp 'atomicappend --sync f')" = "full " ]
	[ "$(comp 'atomicwrite --sync ')" = "full none " ]
	[ "$(comp 'sqlwal --format ')" = "csv json jsonl table tsv " ]
	[ "$(comp 'sqlwal --format js')" = "json jsonl " ]
	[ "$(comp 'sqlwal --checkpoint ')" = "FULL PASSIVE RESTART TRUNCATE " ]
	[ "$(comp 'withlock --ttl ')" = "0 100ms 10s 1h 1m 1s 5m inf " ]
}

@test "options by prefix; file operands; -f offers SQL scripts" {
	[ "$(comp 'retry --j')" = "--jitter --json " ]
	[ "$(comp 'withlock --ca')" = "--cacert " ]
	[ "$(comp 'staleclean --m')" = "--max-age --min-age " ]
	[ "$(comp 'sqlwal -f ')" = "schema.sql " ]
	[ "$(comp 'sqlwal a')" = "app.db " ]
	[ "$(comp 'withlock dep')" = "deploy.lock " ]
	[ "$(comp 'withlock et')" = "etcd:// " ]
}

@test "the command that retry, withlock and atomicwrite run is completed as itself" {
	[ "$(PATH=$CS_BIN:$PATH comp 'retry -n 3 -d 1s sqlw')" = "sqlwal " ]
	[ "$(comp 'retry -n 3 sqlwal --for')" = "--format " ]
	[ "$(comp 'retry -- withlock deploy.lock sqlwal --format j')" = "json jsonl " ]
	[ "$(comp 'withlock -w 5 deploy.lock sqlwal --che')" = "--check --checkpoint " ]
	[ "$(comp 'withlock deploy.lock -- retry --ji')" = "--jitter " ]
	[ "$(comp 'atomicwrite out.txt -- retry -j eq')" = "equal " ]
	# before the command: withlock's own options and its lock file
	[ "$(comp 'withlock -w ')" = "0 100ms 10s 1h 1m 1s 5m inf " ]
}

@test "every option in each tool's --help is offered, and no other" {
	for tool in "$CS_BIN"/*; do
		name=${tool##*/}
		want=$("$tool" --help | grep -E '^ +-' |
			grep -oE '(^|[ ,])--?[a-zA-Z][-a-zA-Z]*' | tr -d ' ,' |
			sort -u | tr '\n' ' ')
		got=$(comp "$name -" | tr -d = | tr ' ' '\n' | grep -vx -e '--help' -e '--version' -e '' |
			sort -u | tr '\n' ' ')
		[ "$got" = "$want" ] || fail "$name: completes '$got', --help has '$want'"
	done
}

@test "--option=value: values, and where the command starts" {
	[ "$(comp 'sqlwal --format=')" = "csv json jsonl table tsv " ]
	[ "$(comp 'sqlwal --format=js')" = "json jsonl " ]
	[ "$(comp 'retry --jitter=e')" = "equal " ]
	[ "$(comp 'atomicappend --sync=d')" = "data " ]
	[ "$(comp 'retry --timeout=5s --jitter=full sqlwal --for')" = "--format " ]
	[ "$(comp 'withlock --wait=5 deploy.lock sqlwal --che')" = "--check --checkpoint " ]
	[ "$(comp 'retry --jitter=full --j')" = "--jitter --json " ]
	# -qn 3: the cluster's last option takes the next word
	[ "$(comp 'retry -qn 3 sqlwal --form')" = "--format " ]
}

@test "what a Tab must not do: expand a glob, take FILE for a command, or list / for etcd://" {
	touch x.lock y.lock
	[ "$(comp 'staleclean -p ')" = "'*.lock' '*.pid' " ]
	[ "$(comp 'staleclean -p *.l')" = "'*.lock' " ]
	[ "$(comp 'atomicwrite -- sch')" = "schema.sql " ]
	[ "$(comp 'atomicwrite sch')" = "schema.sql " ]
	[ "$(comp 'atomicwrite out -- retry --ji')" = "--jitter " ]
	[ "$(comp 'withlock -- deploy.lock -- retry --ji')" = "--jitter " ]
	[ "$(comp 'withlock etcd://')" = "" ]
	[ "$(comp 'withlock etcd:')" = "" ]
	[ "$(comp 'withlock e')" = "etcd:// " ]
	[ "$(comp 'atomicwrite --b')" = "--backup --backup= " ]
	# an option is not taken for the command
	[ "$(comp 'retry -')" != "" ]
	[ "$(comp 'retry -n 3 -')" = "$(comp 'retry -')" ]
}
